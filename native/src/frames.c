/* CRC5/CRC16 and the BM1366 / BM1387 serial frame codecs: encoders for both directions and a streaming
 * decoder that accepts arbitrary chunks, carries partial frames between calls, resynchronizes after
 * garbage, bad CRCs and dropped bytes, and writes fixed-layout records into caller-owned arrays
 * (numpy structured arrays on the Python side), so no Python object is created per frame.
 * Wire formats follow docs/native.md (ESP-Miner for BM1366, cgminer-gekko/bmminer for BM1387). */
#include "asicrc_native.h"
#include <string.h>

/* CRC5 (poly x^5+x^2+1, init 0x1F, MSB-first) one byte at a time: the 5-bit register is kept in the top
 * bits of a byte (r << 3) so a 256-entry table of 8 shifts with poly 0x05 << 3 does a whole byte. */
static const uint8_t CRC5_TAB[256] = {
    0x00, 0x28, 0x50, 0x78, 0xa0, 0x88, 0xf0, 0xd8, 0x68, 0x40, 0x38, 0x10, 0xc8, 0xe0, 0x98, 0xb0,
    0xd0, 0xf8, 0x80, 0xa8, 0x70, 0x58, 0x20, 0x08, 0xb8, 0x90, 0xe8, 0xc0, 0x18, 0x30, 0x48, 0x60,
    0x88, 0xa0, 0xd8, 0xf0, 0x28, 0x00, 0x78, 0x50, 0xe0, 0xc8, 0xb0, 0x98, 0x40, 0x68, 0x10, 0x38,
    0x58, 0x70, 0x08, 0x20, 0xf8, 0xd0, 0xa8, 0x80, 0x30, 0x18, 0x60, 0x48, 0x90, 0xb8, 0xc0, 0xe8,
    0x38, 0x10, 0x68, 0x40, 0x98, 0xb0, 0xc8, 0xe0, 0x50, 0x78, 0x00, 0x28, 0xf0, 0xd8, 0xa0, 0x88,
    0xe8, 0xc0, 0xb8, 0x90, 0x48, 0x60, 0x18, 0x30, 0x80, 0xa8, 0xd0, 0xf8, 0x20, 0x08, 0x70, 0x58,
    0xb0, 0x98, 0xe0, 0xc8, 0x10, 0x38, 0x40, 0x68, 0xd8, 0xf0, 0x88, 0xa0, 0x78, 0x50, 0x28, 0x00,
    0x60, 0x48, 0x30, 0x18, 0xc0, 0xe8, 0x90, 0xb8, 0x08, 0x20, 0x58, 0x70, 0xa8, 0x80, 0xf8, 0xd0,
    0x70, 0x58, 0x20, 0x08, 0xd0, 0xf8, 0x80, 0xa8, 0x18, 0x30, 0x48, 0x60, 0xb8, 0x90, 0xe8, 0xc0,
    0xa0, 0x88, 0xf0, 0xd8, 0x00, 0x28, 0x50, 0x78, 0xc8, 0xe0, 0x98, 0xb0, 0x68, 0x40, 0x38, 0x10,
    0xf8, 0xd0, 0xa8, 0x80, 0x58, 0x70, 0x08, 0x20, 0x90, 0xb8, 0xc0, 0xe8, 0x30, 0x18, 0x60, 0x48,
    0x28, 0x00, 0x78, 0x50, 0x88, 0xa0, 0xd8, 0xf0, 0x40, 0x68, 0x10, 0x38, 0xe0, 0xc8, 0xb0, 0x98,
    0x48, 0x60, 0x18, 0x30, 0xe8, 0xc0, 0xb8, 0x90, 0x20, 0x08, 0x70, 0x58, 0x80, 0xa8, 0xd0, 0xf8,
    0x98, 0xb0, 0xc8, 0xe0, 0x38, 0x10, 0x68, 0x40, 0xf0, 0xd8, 0xa0, 0x88, 0x50, 0x78, 0x00, 0x28,
    0xc0, 0xe8, 0x90, 0xb8, 0x60, 0x48, 0x30, 0x18, 0xa8, 0x80, 0xf8, 0xd0, 0x08, 0x20, 0x58, 0x70,
    0x10, 0x38, 0x40, 0x68, 0xb0, 0x98, 0xe0, 0xc8, 0x78, 0x50, 0x28, 0x00, 0xd8, 0xf0, 0x88, 0xa0
};
/* CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, MSB-first, no xor-out). */
static const uint16_t CRC16_TAB[256] = {
    0x0000, 0x1021, 0x2042, 0x3063, 0x4084, 0x50a5, 0x60c6, 0x70e7, 0x8108, 0x9129, 0xa14a, 0xb16b,
    0xc18c, 0xd1ad, 0xe1ce, 0xf1ef, 0x1231, 0x0210, 0x3273, 0x2252, 0x52b5, 0x4294, 0x72f7, 0x62d6,
    0x9339, 0x8318, 0xb37b, 0xa35a, 0xd3bd, 0xc39c, 0xf3ff, 0xe3de, 0x2462, 0x3443, 0x0420, 0x1401,
    0x64e6, 0x74c7, 0x44a4, 0x5485, 0xa56a, 0xb54b, 0x8528, 0x9509, 0xe5ee, 0xf5cf, 0xc5ac, 0xd58d,
    0x3653, 0x2672, 0x1611, 0x0630, 0x76d7, 0x66f6, 0x5695, 0x46b4, 0xb75b, 0xa77a, 0x9719, 0x8738,
    0xf7df, 0xe7fe, 0xd79d, 0xc7bc, 0x48c4, 0x58e5, 0x6886, 0x78a7, 0x0840, 0x1861, 0x2802, 0x3823,
    0xc9cc, 0xd9ed, 0xe98e, 0xf9af, 0x8948, 0x9969, 0xa90a, 0xb92b, 0x5af5, 0x4ad4, 0x7ab7, 0x6a96,
    0x1a71, 0x0a50, 0x3a33, 0x2a12, 0xdbfd, 0xcbdc, 0xfbbf, 0xeb9e, 0x9b79, 0x8b58, 0xbb3b, 0xab1a,
    0x6ca6, 0x7c87, 0x4ce4, 0x5cc5, 0x2c22, 0x3c03, 0x0c60, 0x1c41, 0xedae, 0xfd8f, 0xcdec, 0xddcd,
    0xad2a, 0xbd0b, 0x8d68, 0x9d49, 0x7e97, 0x6eb6, 0x5ed5, 0x4ef4, 0x3e13, 0x2e32, 0x1e51, 0x0e70,
    0xff9f, 0xefbe, 0xdfdd, 0xcffc, 0xbf1b, 0xaf3a, 0x9f59, 0x8f78, 0x9188, 0x81a9, 0xb1ca, 0xa1eb,
    0xd10c, 0xc12d, 0xf14e, 0xe16f, 0x1080, 0x00a1, 0x30c2, 0x20e3, 0x5004, 0x4025, 0x7046, 0x6067,
    0x83b9, 0x9398, 0xa3fb, 0xb3da, 0xc33d, 0xd31c, 0xe37f, 0xf35e, 0x02b1, 0x1290, 0x22f3, 0x32d2,
    0x4235, 0x5214, 0x6277, 0x7256, 0xb5ea, 0xa5cb, 0x95a8, 0x8589, 0xf56e, 0xe54f, 0xd52c, 0xc50d,
    0x34e2, 0x24c3, 0x14a0, 0x0481, 0x7466, 0x6447, 0x5424, 0x4405, 0xa7db, 0xb7fa, 0x8799, 0x97b8,
    0xe75f, 0xf77e, 0xc71d, 0xd73c, 0x26d3, 0x36f2, 0x0691, 0x16b0, 0x6657, 0x7676, 0x4615, 0x5634,
    0xd94c, 0xc96d, 0xf90e, 0xe92f, 0x99c8, 0x89e9, 0xb98a, 0xa9ab, 0x5844, 0x4865, 0x7806, 0x6827,
    0x18c0, 0x08e1, 0x3882, 0x28a3, 0xcb7d, 0xdb5c, 0xeb3f, 0xfb1e, 0x8bf9, 0x9bd8, 0xabbb, 0xbb9a,
    0x4a75, 0x5a54, 0x6a37, 0x7a16, 0x0af1, 0x1ad0, 0x2ab3, 0x3a92, 0xfd2e, 0xed0f, 0xdd6c, 0xcd4d,
    0xbdaa, 0xad8b, 0x9de8, 0x8dc9, 0x7c26, 0x6c07, 0x5c64, 0x4c45, 0x3ca2, 0x2c83, 0x1ce0, 0x0cc1,
    0xef1f, 0xff3e, 0xcf5d, 0xdf7c, 0xaf9b, 0xbfba, 0x8fd9, 0x9ff8, 0x6e17, 0x7e36, 0x4e55, 0x5e74,
    0x2e93, 0x3eb2, 0x0ed1, 0x1ef0
};

uint8_t asicrc_crc5_bits(const uint8_t *data, size_t nbits) {
    uint8_t r = 0x1F << 3;
    size_t full = nbits / 8;
    for (size_t i = 0; i < full; i++) r = CRC5_TAB[r ^ data[i]];
    unsigned rest = (unsigned)(nbits % 8);
    if (rest) {
        uint8_t byte = data[full];
        for (unsigned b = 0; b < rest; b++) {
            unsigned fb = ((r >> 7) ^ (byte >> (7 - b))) & 1u;
            r = (uint8_t)(r << 1);
            if (fb) r ^= 0x28;
        }
    }
    return (uint8_t)(r >> 3);
}

uint8_t asicrc_crc5(const uint8_t *data, size_t len) {
    uint8_t r = 0x1F << 3;
    for (size_t i = 0; i < len; i++) r = CRC5_TAB[r ^ data[i]];
    return (uint8_t)(r >> 3);
}

uint16_t asicrc_crc16_false(const uint8_t *data, size_t len) {
    uint16_t c = 0xFFFF;
    for (size_t i = 0; i < len; i++) c = (uint16_t)((c << 8) ^ CRC16_TAB[((c >> 8) ^ data[i]) & 0xFF]);
    return c;
}

static inline uint32_t rd_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
static inline uint32_t rd_le32(const uint8_t *p) {
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | (uint32_t)p[0];
}
static inline void wr_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void wr_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------- encoders: host -> chip */

/* The records' sizes are part of the ABI (numpy reads them as structured arrays). */
_Static_assert(sizeof(asicrc_reply) == 32, "asicrc_reply must stay 32 bytes");
_Static_assert(sizeof(asicrc_host_frame) == 192, "asicrc_host_frame must stay 192 bytes");

size_t asicrc_bm1366_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out, size_t out_len) {
    if (plen > ASICRC_MAX_CMD_PAYLOAD || out_len < plen + 5) return 0;
    out[0] = 0x55; out[1] = 0xAA; out[2] = hdr; out[3] = (uint8_t)(plen + 3);
    if (plen) memcpy(out + 4, payload, plen);
    out[4 + plen] = asicrc_crc5(out + 2, plen + 2);
    return plen + 5;
}

size_t asicrc_bm1366_job(const uint8_t payload[82], uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1366_JOB_FRAME) return 0;
    out[0] = 0x55; out[1] = 0xAA; out[2] = 0x21; out[3] = 82 + 4;
    memcpy(out + 4, payload, 82);
    uint16_t c = asicrc_crc16_false(out + 2, 84);
    out[86] = (uint8_t)(c >> 8); out[87] = (uint8_t)c;
    return ASICRC_BM1366_JOB_FRAME;
}

/* ESP-Miner's BM1366_job: the whole header (no midstate); merkle root and prevhash with their eight 4-byte
 * words in reverse order. */
size_t asicrc_bm1366_job_payload(const uint8_t header[80], uint8_t job_id, uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1366_JOB_PAYLOAD) return 0;
    out[0] = job_id; out[1] = 1;
    memset(out + 2, 0, 4);
    memcpy(out + 6, header + 72, 4);  /* nbits LE */
    memcpy(out + 10, header + 68, 4); /* ntime LE */
    for (int w = 0; w < 8; w++) {
        memcpy(out + 14 + 4 * w, header + 36 + 4 * (7 - w), 4);
        memcpy(out + 46 + 4 * w, header + 4 + 4 * (7 - w), 4);
    }
    memcpy(out + 78, header, 4); /* version LE */
    return ASICRC_BM1366_JOB_PAYLOAD;
}

size_t asicrc_bm1387_cmd(uint8_t hdr, const uint8_t *payload, size_t plen, uint8_t *out, size_t out_len) {
    if (plen > ASICRC_MAX_CMD_PAYLOAD || out_len < plen + 3) return 0;
    out[0] = hdr; out[1] = (uint8_t)(plen + 3);
    if (plen) memcpy(out + 2, payload, plen);
    out[2 + plen] = asicrc_crc5(out, plen + 2);
    return plen + 3;
}

size_t asicrc_bm1387_work(uint8_t job_id, uint32_t nbits, uint32_t ntime, const uint8_t merkle_tail[4],
                          const uint8_t *midstates, size_t n_midstates, uint8_t *out, size_t out_len) {
    if (n_midstates < 1 || n_midstates > 4) return 0;
    size_t len = 22 + 32 * n_midstates;
    if (out_len < len) return 0;
    out[0] = 0x21; out[1] = (uint8_t)len; out[2] = job_id; out[3] = (uint8_t)n_midstates;
    memset(out + 4, 0, 4);
    wr_le32(out + 8, nbits);
    wr_le32(out + 12, ntime);
    memcpy(out + 16, merkle_tail, 4);
    memcpy(out + 20, midstates, 32 * n_midstates);
    uint16_t c = asicrc_crc16_false(out, len - 2);
    out[len - 2] = (uint8_t)(c >> 8); out[len - 1] = (uint8_t)c;
    return len;
}

/* Midstate in BM1387 wire order: the SHA-256 state serialized big-endian, then fully byte-reversed. */
size_t asicrc_bm1387_midstate_wire(const uint8_t header[80], uint32_t version, uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_MIDSTATE) return 0;
    uint8_t h[64];
    uint32_t st[8];
    memcpy(h, header, 64);
    wr_le32(h, version);
    asicrc_midstate(h, st);
    for (int w = 0; w < 8; w++) wr_le32(out + 4 * (7 - w), st[w]);
    return ASICRC_MIDSTATE;
}

size_t asicrc_bm1387_work_from_header(const uint8_t header[80], uint8_t job_id, const uint32_t *versions,
                                      size_t n_versions, uint8_t *out, size_t out_len) {
    uint8_t mids[4 * ASICRC_MIDSTATE];
    if (n_versions < 1 || n_versions > 4 || out_len < 22 + 32 * n_versions) return 0;
    for (size_t i = 0; i < n_versions; i++)
        asicrc_bm1387_midstate_wire(header, versions[i], mids + 32 * i, ASICRC_MIDSTATE);
    return asicrc_bm1387_work(job_id, rd_le32(header + 72), rd_le32(header + 68), header + 64, mids, n_versions,
                              out, out_len);
}

/* ---------------------------------------------------------------- encoders: chip -> host */

size_t asicrc_bm1366_nonce_reply(uint32_t nonce, uint8_t midstate, uint8_t job_byte, uint16_t version_hi,
                                 uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1366_REPLY) return 0;
    out[0] = 0xAA; out[1] = 0x55;
    wr_le32(out + 2, nonce);
    out[6] = midstate; out[7] = job_byte;
    out[8] = (uint8_t)(version_hi >> 8); out[9] = (uint8_t)version_hi;
    out[10] = 0x80;
    out[10] |= asicrc_crc5_bits(out + 2, 8 * 9 - 5);
    return ASICRC_BM1366_REPLY;
}

size_t asicrc_bm1366_register_reply(uint32_t value, uint8_t chip_addr, uint8_t reg, uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1366_REPLY) return 0;
    out[0] = 0xAA; out[1] = 0x55;
    wr_be32(out + 2, value);
    out[6] = chip_addr; out[7] = reg; out[8] = 0; out[9] = 0; out[10] = 0;
    out[10] = asicrc_crc5_bits(out + 2, 8 * 9 - 5);
    return ASICRC_BM1366_REPLY;
}

size_t asicrc_bm1387_nonce_reply(uint32_t nonce, uint8_t extra, uint8_t job_id, uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1387_REPLY) return 0;
    wr_le32(out, nonce);
    out[4] = extra; out[5] = job_id; out[6] = 0x80;
    out[6] |= asicrc_crc5_bits(out, 8 * 7 - 5);
    return ASICRC_BM1387_REPLY;
}

size_t asicrc_bm1387_register_reply(uint32_t value, uint8_t *out, size_t out_len) {
    if (out_len < ASICRC_BM1387_REPLY) return 0;
    wr_be32(out, value);
    out[4] = 0; out[5] = 0; out[6] = 0;
    out[6] = asicrc_crc5_bits(out, 8 * 7 - 5);
    return ASICRC_BM1387_REPLY;
}

/* ---------------------------------------------------------------- streaming decoder */

#define T_NEED 0   /* a frame may start here but more bytes are needed */
#define T_SKIP (-1) /* no frame starts here: drop one byte */
#define T_BAD (-2)  /* framing matched but the CRC is wrong */

static const size_t MIN_FRAME[4] = {11, 7, 7, 5};

static inline int valid_1387_work_len(unsigned len) { return len == 54 || len == 86 || len == 118 || len == 150; }

/* Each try_* looks at a possible frame start b with `avail` bytes and returns the frame length, or T_*.
 * *flen receives the framed length for T_BAD. */
static int try_1366_reply(const uint8_t *b, size_t avail, size_t *flen) {
    if (b[0] != 0xAA) return T_SKIP;
    if (avail < 2) return T_NEED;
    if (b[1] != 0x55) return T_SKIP;
    if (avail < 11) return T_NEED;
    *flen = 11;
    /* the CRC runs over everything after the preamble including the CRC bits: a valid frame leaves 0 */
    return asicrc_crc5(b + 2, 9) == 0 ? 11 : T_BAD;
}

static int try_1366_host(const uint8_t *b, size_t avail, size_t *flen) {
    if (b[0] != 0x55) return T_SKIP;
    if (avail < 2) return T_NEED;
    if (b[1] != 0xAA) return T_SKIP;
    if (avail < 4) return T_NEED;
    unsigned hdr = b[2], len = b[3];
    int job;
    if (hdr == 0x21 && len == 86) job = 1;
    else if ((hdr & 0xF0) == 0x40 || (hdr & 0xF0) == 0x50) {
        if ((hdr & 0x0F) > 3 || (len != 5 && len != 9)) return T_SKIP;
        job = 0;
    } else return T_SKIP;
    size_t total = 2 + len;
    if (avail < total) return T_NEED;
    *flen = total;
    if (job) {
        uint16_t c = asicrc_crc16_false(b + 2, len - 2);
        return (c == (uint16_t)((b[total - 2] << 8) | b[total - 1])) ? (int)total : T_BAD;
    }
    return asicrc_crc5(b + 2, len - 1) == b[total - 1] ? (int)total : T_BAD;
}

static int try_1387_reply(const uint8_t *b, size_t avail, size_t *flen, int synced) {
    if (avail < 7) return T_NEED;
    unsigned last = b[6];
    if (last & 0x80) {
        if (last & 0x60) return T_SKIP;
    } else if (last > 0x1F || b[4] || b[5]) {
        return T_SKIP;
    }
    *flen = 7;
    if (asicrc_crc5(b, 7) == 0) return 7;
    /* no preamble: a CRC failure is only a "bad frame" where a frame was due (right after a good one) */
    return synced ? T_BAD : T_SKIP;
}

static int try_1387_host(const uint8_t *b, size_t avail, size_t *flen) {
    unsigned hdr = b[0];
    int work;
    if (hdr == 0x21) work = 1;
    else if ((hdr & 0xE0) == 0x40 && (hdr & 0x0F) >= 1 && (hdr & 0x0F) <= 8) work = 0;
    else return T_SKIP;
    if (avail < 2) return T_NEED;
    unsigned len = b[1];
    if (work) {
        if (!valid_1387_work_len(len)) return T_SKIP;
        if (avail < 4) return T_NEED;
        if (b[3] != (len - 22) / 32) return T_SKIP;
    } else if (len != 5 && len != 9) {
        return T_SKIP;
    }
    if (avail < len) return T_NEED;
    *flen = len;
    if (work) {
        uint16_t c = asicrc_crc16_false(b, len - 2);
        return (c == (uint16_t)((b[len - 2] << 8) | b[len - 1])) ? (int)len : T_BAD;
    }
    return asicrc_crc5(b, len - 1) == b[len - 1] ? (int)len : T_BAD;
}

static void fill_reply(const asicrc_decoder *d, const uint8_t *b, uint64_t off, int ok, asicrc_reply *r) {
    memset(r, 0, sizeof *r);
    r->offset = off;
    r->crc_ok = (uint8_t)ok;
    const uint8_t *p;   /* the 4 nonce/value bytes */
    unsigned last;
    if (d->mode == ASICRC_MODE_BM1366_REPLY) { p = b + 2; last = b[10]; }
    else { p = b; last = b[6]; }
    r->flags = (uint8_t)(last >> 5);
    if (last & 0x80) {
        uint32_t nonce_h = rd_be32(p);
        r->kind = ASICRC_KIND_NONCE;
        r->nonce = rd_le32(p);
        if (d->mode == ASICRC_MODE_BM1366_REPLY) {
            r->midstate = b[6];
            r->job_id = b[7] & 0xF8;
            r->small_core = b[7] & 0x07;
            r->version_bits = (((uint32_t)b[8] << 8) | b[9]) << 13;
            r->chip = (uint8_t)(((nonce_h >> 17) & 0xFF) / (d->address_interval ? d->address_interval : 256));
            r->core = (uint8_t)((nonce_h >> 25) & 0x7F);
        } else {
            r->midstate = b[4];
            r->job_id = b[5];
            /* rx0 (header byte 76, the nonce's low byte) carries the chip address: cgminer-gekko takes the chip
             * from rx[0] / (256 / chips), braiins (nonce >> 2) & 0x3F at interval 4; the core is rx3 & 0x7F
             * (braiins (nonce >> 24) & 0x7F) */
            r->chip = (uint8_t)(p[0] / (d->address_interval ? d->address_interval : 4));
            r->core = (uint8_t)(p[3] & 0x7F);
        }
    } else {
        r->kind = ASICRC_KIND_REGISTER;
        r->value = rd_be32(p);
        if (d->mode == ASICRC_MODE_BM1366_REPLY) { r->chip_addr = b[6]; r->reg = b[7]; }
    }
}

static void fill_host(const asicrc_decoder *d, const uint8_t *b, size_t flen, uint64_t off, int ok,
                      asicrc_host_frame *h) {
    memset(h, 0, sizeof *h);
    h->offset = off;
    h->crc_ok = (uint8_t)ok;
    h->frame_len = (uint16_t)flen;
    memcpy(h->frame, b, flen);
    const uint8_t *f = d->mode == ASICRC_MODE_BM1366_HOST ? b + 2 : b; /* from HDR on */
    h->hdr = f[0];
    h->length = f[1];
    if (f[0] == 0x21) {
        const uint8_t *p = f + 2;
        h->kind = ASICRC_KIND_JOB;
        h->job_id = p[0];
        h->num_midstates = p[1];
        h->starting_nonce = rd_le32(p + 2);
        h->nbits = rd_le32(p + 6);
        h->ntime = rd_le32(p + 10);
        if (d->mode == ASICRC_MODE_BM1366_HOST) h->version = rd_le32(p + 78);
    } else {
        h->kind = ASICRC_KIND_COMMAND;
        h->chip_addr = f[2];
        h->reg = f[3];
        if (f[1] == 9) h->value = rd_be32(f + 4);
    }
}

void asicrc_decoder_init(asicrc_decoder *d, int mode, uint32_t address_interval, int emit_bad) {
    memset(d, 0, sizeof *d);
    d->mode = (mode >= 0 && mode <= 3) ? mode : 0;
    d->address_interval = address_interval ? address_interval : 256;
    d->emit_bad = emit_bad ? 1 : 0;
}

size_t asicrc_decoder_min_frame(int mode) { return (mode >= 0 && mode <= 3) ? MIN_FRAME[mode] : 5; }

static inline int try_frame(const asicrc_decoder *d, const uint8_t *b, size_t avail, size_t *flen) {
    switch (d->mode) {
    case ASICRC_MODE_BM1366_REPLY: return try_1366_reply(b, avail, flen);
    case ASICRC_MODE_BM1366_HOST: return try_1366_host(b, avail, flen);
    case ASICRC_MODE_BM1387_REPLY: return try_1387_reply(b, avail, flen, d->synced);
    default: return try_1387_host(b, avail, flen);
    }
}

static void emit(asicrc_decoder *d, const uint8_t *b, size_t flen, uint64_t off, int ok, void *out, size_t *count,
                 size_t max_out) {
    if (*count >= max_out) { d->overflow++; return; }
    if (d->mode == ASICRC_MODE_BM1366_REPLY || d->mode == ASICRC_MODE_BM1387_REPLY)
        fill_reply(d, b, off, ok, (asicrc_reply *)out + *count);
    else
        fill_host(d, b, flen, off, ok, (asicrc_host_frame *)out + *count);
    (*count)++;
}

/* Decode frames starting at positions [*pos, limit) of buf[0..n); base = stream offset of buf[0].
 * Stops early when a frame may start at *pos but is not complete within n bytes. */
static void scan(asicrc_decoder *d, const uint8_t *buf, size_t n, size_t *pos, size_t limit, uint64_t base,
                 void *out, size_t *count, size_t max_out) {
    size_t p = *pos;
    while (p < limit) {
        size_t flen = 0;
        int r = try_frame(d, buf + p, n - p, &flen);
        if (r > 0) {
            emit(d, buf + p, (size_t)r, base + p, 1, out, count, max_out);
            d->frames++;
            d->synced = 1;
            p += (size_t)r;
            continue;
        }
        if (r == T_NEED) break;
        if (r == T_BAD) {
            d->bad_crc++;
            if (d->emit_bad) emit(d, buf + p, flen, base + p, 0, out, count, max_out);
        }
        if (d->synced) { d->resyncs++; d->synced = 0; }
        d->bytes_dropped++;
        p++;
    }
    *pos = p;
}

size_t asicrc_decoder_feed(asicrc_decoder *d, const uint8_t *data, size_t n, void *out, size_t max_out) {
    size_t count = 0, dpos = 0;
    d->bytes_in += n;
    if (d->pend_len) {
        /* frames that start in the carried-over bytes are decoded from a small joined copy */
        uint8_t tmp[2 * ASICRC_MAX_FRAME];
        size_t pl = d->pend_len, t = n < ASICRC_MAX_FRAME ? n : ASICRC_MAX_FRAME, pos = 0;
        memcpy(tmp, d->pend, pl);
        if (t) memcpy(tmp + pl, data, t);
        scan(d, tmp, pl + t, &pos, pl, d->base, out, &count, max_out);
        if (pos < pl) { /* still incomplete: every new byte went into tmp */
            d->pend_len = pl + t - pos;
            memmove(d->pend, tmp + pos, d->pend_len);
            d->base += pos;
            return count;
        }
        dpos = pos - pl;
        d->base += pl;
        d->pend_len = 0;
    }
    scan(d, data, n, &dpos, n, d->base, out, &count, max_out);
    d->pend_len = n - dpos;
    if (d->pend_len) memcpy(d->pend, data + dpos, d->pend_len);
    d->base += dpos;
    return count;
}

size_t asicrc_decoder_flush(asicrc_decoder *d) {
    size_t dropped = d->pend_len;
    d->bytes_dropped += dropped;
    d->base += dropped;
    d->pend_len = 0;
    d->synced = 0;
    return dropped;
}
