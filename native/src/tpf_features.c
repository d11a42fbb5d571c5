/* TPF feature extraction: k-round working state of SHA-256d's second compression, and its expansion into
 * classifier features (8 scaled words + 256 bits) without a numpy round trip.
 *
 * Why a separate extractor: for k <= 16 the second compression's rounds use only message words (the digest
 * and fixed padding), so no schedule expansion is needed; the generic batch state function expands all 64
 * schedule words. Only public SHA-256 primitives of sha256.c are used (midstate and one full compression). */
#include <string.h>

#include "asicrc_native.h"

static const uint32_t TPF_K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};
static const uint32_t TPF_IV[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

static inline uint32_t tpf_rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

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
            uint32_t s0 = tpf_rotr(W[t - 15], 7) ^ tpf_rotr(W[t - 15], 18) ^ (W[t - 15] >> 3);
            uint32_t s1 = tpf_rotr(W[t - 2], 17) ^ tpf_rotr(W[t - 2], 19) ^ (W[t - 2] >> 10);
            W[t] = W[t - 16] + s0 + W[t - 7] + s1;
        }
        uint32_t a = TPF_IV[0], b = TPF_IV[1], c = TPF_IV[2], d = TPF_IV[3];
        uint32_t e = TPF_IV[4], f = TPF_IV[5], g = TPF_IV[6], h = TPF_IV[7];
        for (int t = 0; t < k; t++) {
            uint32_t t1 = h + (tpf_rotr(e, 6) ^ tpf_rotr(e, 11) ^ tpf_rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                          TPF_K[t] + W[t];
            uint32_t t2 = (tpf_rotr(a, 2) ^ tpf_rotr(a, 13) ^ tpf_rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
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
