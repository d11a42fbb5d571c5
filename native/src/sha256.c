/* SHA-256 / SHA-256d for Bitcoin block headers: midstates, batch verification,
 * the exact round-61 early reject and k-round state extraction.
 * Written from FIPS 180-4; every batch entry point works on caller-owned arrays
 * so Python never creates one object per hash. */
#include "asicrc_native.h"
#include <string.h>

static const uint32_t K256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

static const uint32_t IV256[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                  0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define CH(x, y, z) (((x) & (y)) ^ (~(x) & (z)))
#define MAJ(x, y, z) (((x) & (y)) ^ ((x) & (z)) ^ ((y) & (z)))
#define BSIG0(x) (ROTR(x, 2) ^ ROTR(x, 13) ^ ROTR(x, 22))
#define BSIG1(x) (ROTR(x, 6) ^ ROTR(x, 11) ^ ROTR(x, 25))
#define SSIG0(x) (ROTR(x, 7) ^ ROTR(x, 18) ^ ((x) >> 3))
#define SSIG1(x) (ROTR(x, 17) ^ ROTR(x, 19) ^ ((x) >> 10))

static inline uint32_t load_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline uint32_t bswap32(uint32_t v) {
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Message schedule words W[from..to) from the words before them. */
static inline void expand_range(uint32_t W[64], int from, int to) {
    for (int t = from; t < to; t++) W[t] = SSIG1(W[t - 2]) + W[t - 7] + SSIG0(W[t - 15]) + W[t - 16];
}

static void expand(uint32_t W[64]) { expand_range(W, 16, 64); }

/* The scalar SHA-256 round loop (the only one): rounds [from, to) on working state s (a..h) with schedule W.
 * Used whole, as the tail after a SHA-NI prefix, and to finish rounds 61..63 after the early-reject test. */
static inline void run_rounds(uint32_t s[8], const uint32_t W[64], int from, int to) {
    uint32_t a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5], g = s[6], h = s[7];
    for (int t = from; t < to; t++) {
        uint32_t t1 = h + BSIG1(e) + CH(e, f, g) + K256[t] + W[t];
        uint32_t t2 = BSIG0(a) + MAJ(a, b, c);
        h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    s[0] = a; s[1] = b; s[2] = c; s[3] = d; s[4] = e; s[5] = f; s[6] = g; s[7] = h;
}

/* x86 SHA extensions (SHA-NI), chosen at run time when the CPU has them; ASICRC_NO_SHANI=1 forces the scalar
 * code (the tests run both). shani_rounds runs rounds [0, 4*groups) on working state s (a..h, no feed-forward)
 * from W[0..15] and writes the message schedule it derives into W[16..63], so callers can finish the last
 * rounds in scalar code (the exact early reject stops after round 61, inside a 4-round group). */
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#define ASICRC_HAVE_SHANI_CODE 1

__attribute__((target("sha,sse4.1,ssse3")))
static void shani_rounds(uint32_t s[8], uint32_t W[64], int groups) {
    __m128i st0, st1, tmp, msg, m[4];
    tmp = _mm_loadu_si128((const __m128i *)&s[0]);   /* lanes: a b c d */
    st1 = _mm_loadu_si128((const __m128i *)&s[4]);   /* lanes: e f g h */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);              /* b a d c */
    st1 = _mm_shuffle_epi32(st1, 0x1B);              /* h g f e */
    st0 = _mm_alignr_epi8(tmp, st1, 8);              /* f e b a = "ABEF" */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);           /* h g d c = "CDGH" */
    for (int i = 0; i < 4; i++) m[i] = _mm_loadu_si128((const __m128i *)&W[4 * i]);
    for (int g = 0; g < groups; g++) {
        __m128i cur = m[g & 3];
        if (g >= 4) _mm_storeu_si128((__m128i *)&W[4 * g], cur);
        msg = _mm_add_epi32(cur, _mm_loadu_si128((const __m128i *)&K256[4 * g]));
        st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
        msg = _mm_shuffle_epi32(msg, 0x0E);
        st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
        /* schedule: m[(g+1)&3] (holding W[4g-12..], already msg1-mixed) becomes W[4g+4..4g+7] */
        if (g >= 3 && g < 15) {
            __m128i nxt = m[(g + 1) & 3];
            nxt = _mm_add_epi32(nxt, _mm_alignr_epi8(cur, m[(g + 3) & 3], 4));
            m[(g + 1) & 3] = _mm_sha256msg2_epu32(nxt, cur);
        }
        if (g >= 1 && g < 13) m[(g + 3) & 3] = _mm_sha256msg1_epu32(m[(g + 3) & 3], cur);
    }
    /* the schedule groups past the last round group are still needed by scalar finishing code */
    for (int g = groups; g < 16; g++) {
        if (g >= 4) _mm_storeu_si128((__m128i *)&W[4 * g], m[g & 3]);
        __m128i cur = m[g & 3];
        if (g >= 3 && g < 15) {
            __m128i nxt = m[(g + 1) & 3];
            nxt = _mm_add_epi32(nxt, _mm_alignr_epi8(cur, m[(g + 3) & 3], 4));
            m[(g + 1) & 3] = _mm_sha256msg2_epu32(nxt, cur);
        }
        if (g >= 1 && g < 13) m[(g + 3) & 3] = _mm_sha256msg1_epu32(m[(g + 3) & 3], cur);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);              /* a b e f */
    st1 = _mm_shuffle_epi32(st1, 0xB1);              /* c d g h */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0);           /* a b c d */
    st1 = _mm_alignr_epi8(st1, tmp, 8);              /* e f g h */
    _mm_storeu_si128((__m128i *)&s[0], st0);
    _mm_storeu_si128((__m128i *)&s[4], st1);
}

static int use_shani(void) {
    static int cached = -1;
    if (cached < 0) {
        unsigned a, b, c, d;
        int ok = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        ok = ok && __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19)) && (c & (1u << 9)); /* SSE4.1, SSSE3 */
        const char *off = getenv("ASICRC_NO_SHANI");
        cached = ok && !(off && off[0] == '1');
    }
    return cached;
}
#endif

/* Rounds [0, rounds) on s from W[0..15]; fills the rest of W's schedule. Same result on every path. */
static inline void rounds_with_schedule(uint32_t s[8], uint32_t W[64], int rounds) {
#ifdef ASICRC_HAVE_SHANI_CODE
    if (use_shani()) {
        int groups = rounds / 4;
        shani_rounds(s, W, groups);
        run_rounds(s, W, 4 * groups, rounds);
        return;
    }
#endif
    expand(W);
    run_rounds(s, W, 0, rounds);
}

void asicrc_sha256_compress(uint32_t state[8], const uint8_t block[64]) {
    uint32_t W[64], s[8];
    for (int i = 0; i < 16; i++) W[i] = load_be32(block + 4 * i);
    memcpy(s, state, sizeof s);
    rounds_with_schedule(s, W, 64);
    for (int i = 0; i < 8; i++) state[i] += s[i];
}

void asicrc_sha256_compress_rounds(uint32_t state[8], const uint8_t block[64], int rounds) {
    uint32_t W[64], s[8];
    if (rounds < 0) rounds = 0;
    if (rounds > 64) rounds = 64;
    for (int i = 0; i < 16; i++) W[i] = load_be32(block + 4 * i);
    expand(W);
    memcpy(s, state, sizeof s);
    run_rounds(s, W, 0, rounds);
    for (int i = 0; i < 8; i++) state[i] += s[i];
}

void asicrc_sha256(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint32_t st[8];
    uint8_t block[64];
    size_t off = 0;
    memcpy(st, IV256, sizeof st);
    while (len - off >= 64) { asicrc_sha256_compress(st, data + off); off += 64; }
    size_t rem = len - off;
    memset(block, 0, 64);
    if (rem) memcpy(block, data + off, rem);
    block[rem] = 0x80;
    if (rem >= 56) { asicrc_sha256_compress(st, block); memset(block, 0, 64); }
    uint64_t bits = (uint64_t)len * 8u;
    for (int i = 0; i < 8; i++) block[63 - i] = (uint8_t)(bits >> (8 * i));
    asicrc_sha256_compress(st, block);
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, st[i]);
}

void asicrc_sha256d(const uint8_t *data, size_t len, uint8_t out[32]) {
    uint8_t first[32];
    asicrc_sha256(data, len, first);
    asicrc_sha256(first, 32, out);
}

void asicrc_midstate(const uint8_t header64[64], uint32_t out_state[8]) {
    memcpy(out_state, IV256, sizeof IV256);
    asicrc_sha256_compress(out_state, header64);
}

/* A job prepared for many nonces: midstate of bytes 0..63 and the schedule
 * words of the second block that do not depend on the nonce. */
typedef struct {
    uint32_t mid[8];
    uint32_t tail[3]; /* merkle tail, ntime, nbits as big-endian loaded words */
} job_t;

static void job_init(job_t *j, const uint8_t header[80], uint32_t version_le) {
    uint8_t first[64];
    memcpy(first, header, 64);
    first[0] = (uint8_t)version_le; first[1] = (uint8_t)(version_le >> 8);
    first[2] = (uint8_t)(version_le >> 16); first[3] = (uint8_t)(version_le >> 24);
    asicrc_midstate(first, j->mid);
    for (int i = 0; i < 3; i++) j->tail[i] = load_be32(header + 64 + 4 * i);
}

/* First compression (second block of the header) → 8 digest words. */
static inline void first_hash(const job_t *j, uint32_t nonce_le, uint32_t dig[8]) {
    uint32_t W[64], s[8];
    W[0] = j->tail[0]; W[1] = j->tail[1]; W[2] = j->tail[2];
    W[3] = bswap32(nonce_le); /* nonce is stored little-endian in the header */
    W[4] = 0x80000000u;
    for (int i = 5; i < 15; i++) W[i] = 0;
    W[15] = 640;
    memcpy(s, j->mid, sizeof s);
    rounds_with_schedule(s, W, 64);
    for (int i = 0; i < 8; i++) dig[i] = j->mid[i] + s[i];
}

static inline void second_block(const uint32_t dig[8], uint32_t W[64]) {
    for (int i = 0; i < 8; i++) W[i] = dig[i];
    W[8] = 0x80000000u;
    for (int i = 9; i < 15; i++) W[i] = 0;
    W[15] = 256;
}

static inline void full_second(const uint32_t dig[8], uint32_t out[8]) {
    uint32_t W[64], s[8];
    second_block(dig, W);
    memcpy(s, IV256, sizeof s);
    rounds_with_schedule(s, W, 64);
    for (int i = 0; i < 8; i++) out[i] = IV256[i] + s[i];
}

static inline void words_to_hash(const uint32_t w[8], uint8_t out[32]) {
    for (int i = 0; i < 8; i++) store_be32(out + 4 * i, w[i]);
}

/* diff1 target 0xFFFF * 2^208 divided by the hash read as a little-endian 256-bit integer. */
double asicrc_hash_difficulty(const uint8_t hash[32]) {
    double v = 0.0;
    for (int i = 31; i >= 0; i--) v = v * 256.0 + (double)hash[i];
    if (v == 0.0) return 1.0e300;
    return 65535.0 * 0x1p208 / v;
}

void asicrc_sha256d_header(const uint8_t header[80], uint8_t out[32]) { asicrc_sha256d(header, 80, out); }

static inline uint32_t header_version(const uint8_t header[80]) {
    return (uint32_t)header[0] | ((uint32_t)header[1] << 8) | ((uint32_t)header[2] << 16) | ((uint32_t)header[3] << 24);
}

void asicrc_difficulty_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                             double *out_diff, uint8_t *out_hashes) {
    job_t j;
    uint32_t cur_version = header_version(header);
    job_init(&j, header, cur_version);
    for (size_t i = 0; i < n; i++) {
        if (versions && versions[i] != cur_version) { cur_version = versions[i]; job_init(&j, header, cur_version); }
        uint32_t dig[8], fin[8];
        uint8_t h[32];
        first_hash(&j, nonces[i], dig);
        full_second(dig, fin);
        words_to_hash(fin, h);
        out_diff[i] = asicrc_hash_difficulty(h);
        if (out_hashes) memcpy(out_hashes + 32 * i, h, 32);
    }
}

/* hash (LE integer) <= target (LE integer)? */
static inline int hash_le_target(const uint8_t h[32], const uint8_t target[32]) {
    for (int i = 31; i >= 0; i--) {
        if (h[i] < target[i]) return 1;
        if (h[i] > target[i]) return 0;
    }
    return 1;
}

/* The exact early reject: after round 61 of the second compression register e
 * holds what becomes h after round 64, so the final digest word 7 (the most
 * significant 32 bits of the hash as a little-endian integer, byte-swapped) is
 * IV7 + e already. If that word exceeds the target's top word, no later round
 * can rescue the hash: reject with 61 of 64 rounds done. Never a false reject. */
size_t asicrc_meets_target_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                                 const uint8_t target[32], int early, uint8_t *out_ok, uint64_t *out_rounds) {
    job_t j;
    uint32_t cur_version = header_version(header);
    uint32_t target_top = (uint32_t)target[28] | ((uint32_t)target[29] << 8) | ((uint32_t)target[30] << 16) |
                          ((uint32_t)target[31] << 24);
    size_t hits = 0;
    uint64_t rounds = 0;
    job_init(&j, header, cur_version);
    for (size_t i = 0; i < n; i++) {
        if (versions && versions[i] != cur_version) { cur_version = versions[i]; job_init(&j, header, cur_version); }
        uint32_t dig[8], W[64], s[8];
        first_hash(&j, nonces[i], dig);
        second_block(dig, W);
        memcpy(s, IV256, sizeof s);
        int ok;
        if (early) {
            rounds_with_schedule(s, W, 61);
            uint32_t top = bswap32(IV256[7] + s[4]);
            if (top > target_top) { ok = 0; rounds += 64 + 61; goto done; }
            run_rounds(s, W, 61, 64); /* finish rounds 61..63 */
        } else {
            rounds_with_schedule(s, W, 64);
        }
        rounds += 128;
        {
            uint32_t fin[8];
            uint8_t hh[32];
            for (int k = 0; k < 8; k++) fin[k] = IV256[k] + s[k];
            words_to_hash(fin, hh);
            ok = hash_le_target(hh, target);
        }
    done:
        if (out_ok) out_ok[i] = (uint8_t)ok;
        hits += (size_t)ok;
    }
    if (out_rounds) *out_rounds = rounds;
    return hits;
}

void asicrc_second_states_batch(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out) {
    job_t j;
    if (k < 0) k = 0;
    if (k > 64) k = 64;
    job_init(&j, header, header_version(header));
    for (size_t i = 0; i < n; i++) {
        uint32_t dig[8], W[64], s[8];
        first_hash(&j, nonces[i], dig);
        second_block(dig, W);
        expand_range(W, 16, k); /* only the schedule words rounds [0, k) read */
        memcpy(s, IV256, sizeof s);
        run_rounds(s, W, 0, k);
        memcpy(out + 8 * i, s, sizeof s);
    }
}

size_t asicrc_search_nonces(const uint8_t header[80], uint32_t start, uint64_t count, const uint8_t target[32],
                            uint32_t *out, size_t max_out, uint64_t *hashes_done) {
    job_t j;
    size_t found = 0;
    uint64_t done = 0;
    uint32_t target_top = (uint32_t)target[28] | ((uint32_t)target[29] << 8) | ((uint32_t)target[30] << 16) |
                          ((uint32_t)target[31] << 24);
    job_init(&j, header, header_version(header));
    for (uint64_t c = 0; c < count && found < max_out; c++) {
        uint32_t nonce = start + (uint32_t)c;
        uint32_t dig[8], W[64], s[8];
        first_hash(&j, nonce, dig);
        second_block(dig, W);
        memcpy(s, IV256, sizeof s);
        rounds_with_schedule(s, W, 61);
        done++;
        if (bswap32(IV256[7] + s[4]) > target_top) continue;
        run_rounds(s, W, 61, 64);
        {
            uint32_t fin[8];
            for (int k = 0; k < 8; k++) fin[k] = IV256[k] + s[k];
            uint8_t hh[32];
            words_to_hash(fin, hh);
            if (hash_le_target(hh, target)) out[found++] = nonce;
        }
    }
    if (hashes_done) *hashes_done = done;
    return found;
}
