/* Public C API of the asicrc native core: the one declaration of its ABI.
 *
 * native/build_native.py turns this file into the cffi cdef (comments and preprocessor lines other than
 * integer #defines are dropped), and asicrc.native.codecs derives its numpy record dtypes from the structs
 * below through the compiled module, so C, cffi and numpy cannot disagree. Keep it cffi-parseable: plain
 * prototypes, typedef'd structs, integer #defines; C-only material goes in the .c files.
 *
 * Encoders write into a caller-owned `uint8_t *out` of `out_len` bytes and return the frame length, or 0
 * (writing nothing) when the arguments are invalid or the frame does not fit in out_len. */
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
/* Working state a..h after k rounds (0..64) of the second compression, 8 words per nonce; only the schedule
 * words those k rounds read are computed (the TPF's feature extractor). */
void asicrc_second_states_batch(const uint8_t header[80], const uint32_t *nonces, size_t n, int k, uint32_t *out);
size_t asicrc_search_nonces(const uint8_t header[80], uint32_t start, uint64_t count, const uint8_t target[32],
                            uint32_t *out, size_t max_out, uint64_t *hashes_done);

/* --- TPF features (tpf_features.c) --- */
/* Row-major float32 features per state: [8 words / 2^32 if words] [256 bits, word-major, LSB first, if bits]. */
void asicrc_tpf_state_features(const uint32_t *states, size_t n, int words, int bits, float *out);

/* --- CRC and BM1366/BM1387 frame codecs (frames.c) --- */
#define ASICRC_MAX_FRAME 152
#define ASICRC_MAX_CMD_PAYLOAD 64
#define ASICRC_BM1366_JOB_PAYLOAD 82
#define ASICRC_BM1366_JOB_FRAME 88
#define ASICRC_BM1366_REPLY 11
#define ASICRC_BM1387_REPLY 7
#define ASICRC_MIDSTATE 32
#define ASICRC_MODE_BM1366_REPLY 0
#define ASICRC_MODE_BM1366_HOST 1
#define ASICRC_MODE_BM1387_REPLY 2
#define ASICRC_MODE_BM1387_HOST 3
#define ASICRC_KIND_NONCE 0
#define ASICRC_KIND_REGISTER 1
#define ASICRC_KIND_COMMAND 2
#define ASICRC_KIND_JOB 3

/* A chip->host reply record (32 bytes; asicrc.native.codecs.REPLY_DTYPE is derived from it). */
typedef struct {
    uint64_t offset;       /* stream offset of the frame's first byte (counted since the decoder was made) */
    uint32_t nonce;        /* header-order nonce (uint32 of header bytes 76..79, LE) */
    uint32_t value;        /* register value (big-endian on the wire) */
    uint32_t version_bits; /* BM1366: rolled version bits (already << 13); 0 on BM1387 */
    uint8_t kind;          /* ASICRC_KIND_NONCE or ASICRC_KIND_REGISTER */
    uint8_t crc_ok;
    uint8_t job_id;
    uint8_t small_core;    /* BM1366 b7 & 7 */
    uint8_t midstate;      /* BM1366 b6 ("midstate_num"); BM1387 rx4 */
    uint8_t chip;          /* chip index from the nonce (BM1366 bits 17..24, BM1387 bits 0..7; / address_interval) */
    uint8_t core;          /* core from the nonce (BM1366 bits 25..31; BM1387 bits 24..30) */
    uint8_t chip_addr;     /* BM1366 register replies: answering chip's address */
    uint8_t reg;           /* BM1366 register replies: register address */
    uint8_t flags;         /* top 3 bits of the CRC byte */
    uint8_t pad[2];
} asicrc_reply;

/* A host->chip frame record (192 bytes; asicrc.native.codecs.HOST_FRAME_DTYPE is derived from it). */
typedef struct {
    uint64_t offset;
    uint32_t value;          /* register write value (9-byte commands), big-endian on the wire */
    uint32_t nbits;          /* jobs: as in the header (LE) */
    uint32_t ntime;
    uint32_t version;        /* BM1366 jobs only (BM1387 work carries midstates instead) */
    uint32_t starting_nonce;
    uint16_t frame_len;
    uint8_t kind;            /* ASICRC_KIND_COMMAND or ASICRC_KIND_JOB */
    uint8_t crc_ok;
    uint8_t hdr;
    uint8_t length;          /* the LEN byte */
    uint8_t chip_addr;       /* commands: first payload byte */
    uint8_t reg;             /* commands: second payload byte */
    uint8_t job_id;
    uint8_t num_midstates;
    uint8_t pad[2];
    uint8_t frame[ASICRC_MAX_FRAME]; /* the whole frame (first frame_len bytes) */
} asicrc_host_frame;

/* Streaming decoder state (its counters are read from Python; pend is the carried partial frame). */
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
/* host -> chip */
size_t asicrc_bm1366_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out, size_t out_len);
size_t asicrc_bm1366_job(const uint8_t payload[82], uint8_t *out, size_t out_len);
size_t asicrc_bm1366_job_payload(const uint8_t header[80], uint8_t job_id, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_work(uint8_t job_id, uint32_t nbits, uint32_t ntime, const uint8_t merkle_tail[4],
                          const uint8_t *midstates, size_t n_midstates, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_midstate_wire(const uint8_t header[80], uint32_t version, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_work_from_header(const uint8_t header[80], uint8_t job_id, const uint32_t *versions,
                                      size_t n_versions, uint8_t *out, size_t out_len);
/* chip -> host */
size_t asicrc_bm1366_nonce_reply(uint32_t nonce, uint8_t midstate, uint8_t job_byte, uint16_t version_hi,
                                 uint8_t *out, size_t out_len);
size_t asicrc_bm1366_register_reply(uint32_t value, uint8_t chip_addr, uint8_t reg, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_nonce_reply(uint32_t nonce, uint8_t extra, uint8_t job_id, uint8_t *out, size_t out_len);
size_t asicrc_bm1387_register_reply(uint32_t value, uint8_t *out, size_t out_len);
/* decoder */
void asicrc_decoder_init(asicrc_decoder *d, int mode, uint32_t address_interval, int emit_bad);
size_t asicrc_decoder_min_frame(int mode);
size_t asicrc_decoder_feed(asicrc_decoder *d, const uint8_t *data, size_t n, void *out, size_t max_out);
size_t asicrc_decoder_flush(asicrc_decoder *d);

#endif
