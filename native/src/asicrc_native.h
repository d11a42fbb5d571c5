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

/* --- CRC and BM1366/BM1387 frame codecs (frames.c) --- */
#define ASICRC_MAX_FRAME 152
#define ASICRC_MAX_CMD_PAYLOAD 64
#define ASICRC_MODE_BM1366_REPLY 0
#define ASICRC_MODE_BM1366_HOST 1
#define ASICRC_MODE_BM1387_REPLY 2
#define ASICRC_MODE_BM1387_HOST 3
#define ASICRC_KIND_NONCE 0
#define ASICRC_KIND_REGISTER 1
#define ASICRC_KIND_COMMAND 2
#define ASICRC_KIND_JOB 3

/* A chip->host reply (32 bytes; numpy mirror: asicrc.native.codecs.REPLY_DTYPE). */
typedef struct {
    uint64_t offset;
    uint32_t nonce;
    uint32_t value;
    uint32_t version_bits;
    uint8_t kind;
    uint8_t crc_ok;
    uint8_t job_id;
    uint8_t small_core;
    uint8_t midstate;
    uint8_t chip;
    uint8_t core;
    uint8_t chip_addr;
    uint8_t reg;
    uint8_t flags;
    uint8_t pad[2];
} asicrc_reply;

/* A host->chip frame (192 bytes; numpy mirror: asicrc.native.codecs.HOST_FRAME_DTYPE). */
typedef struct {
    uint64_t offset;
    uint32_t value;
    uint32_t nbits;
    uint32_t ntime;
    uint32_t version;
    uint32_t starting_nonce;
    uint16_t frame_len;
    uint8_t kind;
    uint8_t crc_ok;
    uint8_t hdr;
    uint8_t length;
    uint8_t chip_addr;
    uint8_t reg;
    uint8_t job_id;
    uint8_t num_midstates;
    uint8_t pad[2];
    uint8_t frame[152];
} asicrc_host_frame;

typedef struct {
    int mode;
    uint32_t address_interval;
    int emit_bad;
    int synced;
    uint64_t bytes_in;
    uint64_t bytes_dropped;
    uint64_t frames;
    uint64_t bad_crc;
    uint64_t resyncs;
    uint64_t overflow;
    uint64_t base;
    size_t pend_len;
    uint8_t pend[ASICRC_MAX_FRAME];
} asicrc_decoder;

uint8_t asicrc_crc5(const uint8_t *data, size_t len);
uint8_t asicrc_crc5_bits(const uint8_t *data, size_t nbits);
uint16_t asicrc_crc16_false(const uint8_t *data, size_t len);
size_t asicrc_bm1366_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out);
size_t asicrc_bm1366_job(const uint8_t payload[82], uint8_t out[88]);
void asicrc_bm1366_job_payload(const uint8_t header[80], uint8_t job_id, uint8_t out[82]);
size_t asicrc_bm1387_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out);
size_t asicrc_bm1387_work(uint8_t job_id, uint32_t nbits, uint32_t ntime, const uint8_t merkle_tail[4],
                          const uint8_t *midstates, size_t n_midstates, uint8_t *out);
void asicrc_bm1387_midstate_wire(const uint8_t header[80], uint32_t version, uint8_t out[32]);
size_t asicrc_bm1387_work_from_header(const uint8_t header[80], uint8_t job_id, const uint32_t *versions,
                                      size_t n_versions, uint8_t *out);
size_t asicrc_bm1366_nonce_reply(uint32_t nonce, uint8_t midstate, uint8_t job_byte, uint16_t version_hi,
                                 uint8_t out[11]);
size_t asicrc_bm1366_register_reply(uint32_t value, uint8_t chip_addr, uint8_t reg, uint8_t out[11]);
size_t asicrc_bm1387_nonce_reply(uint32_t nonce, uint8_t extra, uint8_t job_id, uint8_t out[7]);
size_t asicrc_bm1387_register_reply(uint32_t value, uint8_t out[7]);
void asicrc_decoder_init(asicrc_decoder *d, int mode, uint32_t address_interval, int emit_bad);
size_t asicrc_decoder_min_frame(int mode);
size_t asicrc_decoder_feed(asicrc_decoder *d, const uint8_t *data, size_t n, void *out, size_t max_out);
size_t asicrc_decoder_flush(asicrc_decoder *d);

#endif
