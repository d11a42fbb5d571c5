/* TPF feature extraction: k-round working state of SHA-256d's second compression, and its expansion into
 * classifier features (8 scaled words + 256 bits) without a numpy round trip.
 *
 * Why a separate extractor: for k <= 16 the second compression's rounds use only message words (the digest
 * and fixed padding), so no schedule expansion is needed; the generic batch state function expands all 64
 * schedule words. Only public SHA-256 primitives of sha256.c are used (midstate and one full compression). */
#include <string.h>

#include "asicrc_native.h"
#include "tpf_features.h"

#include "sha256_rounds.inc"

void asicrc_tpf_k_states(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out) {
    if (k < 0) k = 0;
    if (k > 64) k = 64;
    uint32_t mid[8];
    asicrc_midstate(header, mid);
    uint8_t block[64];
    memset(block, 0, sizeof block);
    memcpy(block, header + 64, 12);
    block[16] = 0x80;
    block[62] = 0x02; /* message length 640 bits, big-endian */
    block[63] = 0x80;
    for (size_t i = 0; i < n; i++) {
        uint32_t nonce = nonces[i]; /* stored little-endian in the header, as the chips return it */
        block[12] = (uint8_t)nonce;
        block[13] = (uint8_t)(nonce >> 8);
        block[14] = (uint8_t)(nonce >> 16);
        block[15] = (uint8_t)(nonce >> 24);
        uint32_t dig[8];
        memcpy(dig, mid, sizeof dig);
        asicrc_sha256_compress(dig, block); /* first hash, feed-forward included */
        uint32_t W[64];
        memcpy(W, dig, sizeof dig);
        W[8] = 0x80000000u;
        for (int t = 9; t < 15; t++) W[t] = 0;
        W[15] = 256;
        for (int t = 16; t < k; t++) { /* only the schedule words the k rounds use */
            W[t] = W[t - 16] + SSIG0(W[t - 15]) + W[t - 7] + SSIG1(W[t - 2]);
        }
        uint32_t a = IV256[0], b = IV256[1], c = IV256[2], d = IV256[3];
        uint32_t e = IV256[4], f = IV256[5], g = IV256[6], h = IV256[7];
        for (int t = 0; t < k; t++) {
            uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + K256[t] + W[t];
            uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
            h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        uint32_t *o = out + 8 * i;
        o[0] = a; o[1] = b; o[2] = c; o[3] = d; o[4] = e; o[5] = f; o[6] = g; o[7] = h;
    }
}

/* Row-major float32 features per state: [8 words / 2^32 if words] [256 bits, word-major, LSB first, if bits]. */
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
