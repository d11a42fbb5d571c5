/* Prototypes of tpf_features.c (the Python-visible part is tpf_features.cdef). */
#ifndef ASICRC_TPF_FEATURES_H
#define ASICRC_TPF_FEATURES_H
#include <stddef.h>
#include <stdint.h>

void asicrc_tpf_k_states(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out);
void asicrc_tpf_state_features(const uint32_t *states, size_t n, int words, int bits, float *out);

#endif
