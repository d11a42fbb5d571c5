/* TPF feature expansion: k-round working states of SHA-256d's second compression (asicrc_second_states_batch
 * in sha256.c) into classifier features (8 scaled words + 256 bits) without a numpy round trip. */
#include "asicrc_native.h"

void asicrc_tpf_state_features(const uint32_t *states, size_t n, int words, int bits, float *out) {
    const size_t width = (words ? 8u : 0u) + (bits ? 256u : 0u);
    for (size_t i = 0; i < n; i++) {
        const uint32_t *s = states + 8 * i;
        float *o = out + width * i;
        if (words) {
            for (int w = 0; w < 8; w++) o[w] = (float)((double)s[w] * (1.0 / 4294967296.0));
            o += 8;
        }
        if (bits) {
            for (int w = 0; w < 8; w++)
                for (int j = 0; j < 32; j++) o[32 * w + j] = (float)((s[w] >> j) & 1u);
        }
    }
}
