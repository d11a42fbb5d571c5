/* Fuzz target for the asicrc streaming frame decoder (native/src/frames.c).
 *
 * LLVMFuzzerTestOneInput is libFuzzer's entry point (clang -fsanitize=fuzzer,address,undefined).
 * Without libFuzzer (gcc has none) build with -DASICRC_STANDALONE_DRIVER: main() then generates inputs itself,
 * half valid frame streams from the encoders with random damage, half random bytes.
 *
 * Input layout: byte 0 = mode (bits 0-1) | emit_bad (bit 2); byte 1 = chunking seed; rest = the stream.
 * Invariants checked (abort on violation, so the sanitizer run reports it as a crash):
 *  - every byte fed is either in a good frame, dropped, or pending;
 *  - with emit_bad off every record has crc_ok = 1 and its bytes decode alone as exactly one good frame;
 *  - records come in increasing offset order inside the stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asicrc_native.h"

#define MAX_REC 4096

static size_t reply_len(int mode) { return mode == ASICRC_MODE_BM1366_REPLY ? 11 : 7; }
static int is_reply(int mode) { return mode == ASICRC_MODE_BM1366_REPLY || mode == ASICRC_MODE_BM1387_REPLY; }

static void check(int ok, const char *what) {
    if (!ok) {
        fprintf(stderr, "invariant violated: %s\n", what);
        abort();
    }
}

static size_t decode_one(int mode, const uint8_t *frame, size_t len) {
    static asicrc_host_frame out[MAX_REC];
    asicrc_decoder d;
    asicrc_decoder_init(&d, mode, 256, 0);
    size_t n = asicrc_decoder_feed(&d, frame, len, out, MAX_REC);
    return (n == 1 && d.bytes_dropped == 0 && d.pend_len == 0) ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static asicrc_host_frame hosts[MAX_REC];
    static asicrc_reply replies[MAX_REC];
    if (size < 2) return 0;
    int mode = data[0] & 3, emit_bad = (data[0] >> 2) & 1;
    unsigned chunk_seed = data[1];
    const uint8_t *s = data + 2;
    size_t n = size - 2;
    if (n > MAX_REC) n = MAX_REC; /* the output buffers below are sized for the worst case at this length */

    asicrc_decoder d;
    asicrc_decoder_init(&d, mode, (uint32_t)(chunk_seed % 256) + 1, emit_bad);
    size_t pos = 0, good_bytes = 0;
    uint64_t last_off = 0;
    int have_last = 0;
    unsigned x = chunk_seed * 2654435761u + 1;
    while (pos < n) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        size_t take = 1 + x % 97;
        if (take > n - pos) take = n - pos;
        void *out = is_reply(mode) ? (void *)replies : (void *)hosts;
        size_t got = asicrc_decoder_feed(&d, s + pos, take, out, MAX_REC);
        check(d.overflow == 0, "output overflow");
        for (size_t i = 0; i < got; i++) {
            uint64_t off;
            int ok;
            size_t flen;
            if (is_reply(mode)) { off = replies[i].offset; ok = replies[i].crc_ok; flen = reply_len(mode); }
            else { off = hosts[i].offset; ok = hosts[i].crc_ok; flen = hosts[i].frame_len; }
            check(off + flen <= n, "record beyond the stream");
            check(!have_last || off > last_off, "offsets not increasing");
            last_off = off; have_last = 1;
            if (!emit_bad) check(ok == 1, "bad-CRC record emitted");
            if (ok) {
                check(decode_one(mode, s + off, flen) == 1, "record bytes are not one good frame");
                if (!is_reply(mode)) check(memcmp(hosts[i].frame, s + off, flen) == 0, "frame copy differs");
                good_bytes += flen;
            }
        }
        pos += take;
    }
    check(d.bytes_in == n, "bytes_in");
    check(d.bytes_dropped + d.pend_len + good_bytes == n, "byte accounting");
    return 0;
}

#ifdef ASICRC_STANDALONE_DRIVER
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}

/* One random valid frame of `mode` into out (ASICRC_MAX_FRAME bytes of room). */
static size_t random_frame(int mode, uint8_t *out) {
    const size_t room = ASICRC_MAX_FRAME;
    uint8_t payload[82], header[80];
    for (int i = 0; i < 80; i++) header[i] = (uint8_t)rnd();
    for (int i = 0; i < 82; i++) payload[i] = (uint8_t)rnd();
    switch (mode) {
    case ASICRC_MODE_BM1366_REPLY:
        if (rnd() & 1) return asicrc_bm1366_nonce_reply((uint32_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), (uint16_t)rnd(), out, room);
        return asicrc_bm1366_register_reply((uint32_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), out, room);
    case ASICRC_MODE_BM1387_REPLY:
        if (rnd() & 1) return asicrc_bm1387_nonce_reply((uint32_t)rnd(), (uint8_t)rnd(), (uint8_t)rnd(), out, room);
        return asicrc_bm1387_register_reply((uint32_t)rnd(), out, room);
    case ASICRC_MODE_BM1366_HOST: {
        static const uint8_t hdrs[] = {0x40, 0x41, 0x42, 0x43, 0x50, 0x51, 0x52, 0x53};
        if (rnd() % 5 == 0) {
            asicrc_bm1366_job_payload(header, (uint8_t)rnd(), payload, sizeof payload);
            return asicrc_bm1366_job(payload, out, room);
        }
        return asicrc_bm1366_cmd(hdrs[rnd() % 8], payload, (rnd() & 1) ? 2 : 6, out, room);
    }
    default: {
        static const uint8_t hdrs[] = {0x41, 0x44, 0x45, 0x48, 0x54, 0x55, 0x58};
        if (rnd() % 5 == 0) {
            uint32_t v[4] = {(uint32_t)rnd(), (uint32_t)rnd(), (uint32_t)rnd(), (uint32_t)rnd()};
            return asicrc_bm1387_work_from_header(header, (uint8_t)rnd(), v, 1 + rnd() % 4, out, room);
        }
        return asicrc_bm1387_cmd(hdrs[rnd() % 7], payload, (rnd() & 1) ? 2 : 6, out, room);
    }
    }
}

int main(int argc, char **argv) {
    unsigned long runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000ul;
    if (argc > 2) rng_state ^= strtoull(argv[2], NULL, 10) * 0x2545F4914F6CDD1Dull;
    static uint8_t buf[2 + MAX_REC + 256];
    for (unsigned long r = 0; r < runs; r++) {
        size_t len = 2, target = 2 + rnd() % 600;
        buf[0] = (uint8_t)rnd(); buf[1] = (uint8_t)rnd();
        int mode = buf[0] & 3;
        if (r & 1) {
            while (len < target) buf[len++] = (uint8_t)rnd();
        } else {
            while (len < target && len < sizeof buf - 2 * ASICRC_MAX_FRAME) {
                len += random_frame(mode, buf + len);
                uint64_t op = rnd() % 8;
                if (op == 0) buf[len - 1 - rnd() % 4] ^= (uint8_t)(1u << (rnd() % 8));      /* flip a bit */
                else if (op == 1) len -= 1 + rnd() % 3;                                    /* drop bytes */
                else if (op == 2) for (int g = (int)(rnd() % 9); g > 0; g--) buf[len++] = (uint8_t)rnd(); /* garbage */
            }
        }
        LLVMFuzzerTestOneInput(buf, len);
    }
    printf("fuzz_decoder: %lu inputs, 0 invariant violations\n", runs);
    return 0;
}
#endif
