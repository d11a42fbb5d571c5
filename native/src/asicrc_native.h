/* Public C API of the asicrc native core; each NAME.c lists its Python-visible part in NAME.cdef. */
#ifndef ASICRC_NATIVE_H
#define ASICRC_NATIVE_H
#include <stddef.h>
#include <stdint.h>

/* --- SHA-256 (sha256.c) --- */
void asicrc_sha256_compress(uint32_t state[8], const uint8_t block[64]);
void asicrc_sha256_compress_rounds(uint32_t state[8], const uint8_t block[64], int rounds);
void asicrc_sha256(const uint8_t *data, size_t len, uint8_t out[32]);
void asicrc_sha256d(const uint8_t *data, size_t len, uint8_t out[32]);
void asicrc_sha256d_header(const uint8_t header[80], uint8_t out[32]);
void asicrc_midstate(const uint8_t header64[64], uint32_t out_state[8]);
double asicrc_hash_difficulty(const uint8_t hash[32]);
void asicrc_difficulty_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                             double *out_diff, uint8_t *out_hashes);
size_t asicrc_meets_target_batch(const uint8_t header[80], const uint32_t *nonces, const uint32_t *versions, size_t n,
                                 const uint8_t target[32], int early, uint8_t *out_ok, uint64_t *out_rounds);
void asicrc_second_states_batch(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out);
size_t asicrc_search_nonces(const uint8_t header[80], uint32_t start, uint64_t count, const uint8_t target[32],
                            uint32_t *out, size_t max_out, uint64_t *hashes_done);

#endif
