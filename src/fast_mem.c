/*
 * memcpy, memmove, memcmp and bcmp for the static x86_64 binary (see src/fast_mem.rs for why).
 *
 * Every function is defined under a `shipgate_` name, so the tests can call this code on any
 * host; build.rs defines SHIPGATE_REPLACE_LIBC_MEM for x86_64-unknown-linux-musl only, which
 * makes the libc names aliases of these, and the static link then never pulls musl's own.
 *
 * Compiled with -ffreestanding -fno-builtin (and GCC's -fno-tree-loop-distribute-patterns):
 * the compiler must not turn these loops back into calls to memcpy.
 */
#include <stddef.h>
#include <stdint.h>

/* Unaligned, aliasing loads and stores. */
typedef uint16_t u16u __attribute__((aligned(1), may_alias));
typedef uint32_t u32u __attribute__((aligned(1), may_alias));
typedef uint64_t u64u __attribute__((aligned(1), may_alias));
typedef uint8_t v16u __attribute__((vector_size(16), aligned(1), may_alias));

typedef unsigned char byte;

/* n <= 32 bytes: every load before any store, so overlapping ranges are copied correctly. */
static inline void copy_upto32(byte *d, const byte *s, size_t n)
{
    if (n >= 16) {
        v16u head = *(const v16u *)s;
        v16u tail = *(const v16u *)(s + n - 16);
        *(v16u *)d = head;
        *(v16u *)(d + n - 16) = tail;
    } else if (n >= 8) {
        uint64_t head = *(const u64u *)s;
        uint64_t tail = *(const u64u *)(s + n - 8);
        *(u64u *)d = head;
        *(u64u *)(d + n - 8) = tail;
    } else if (n >= 4) {
        uint32_t head = *(const u32u *)s;
        uint32_t tail = *(const u32u *)(s + n - 4);
        *(u32u *)d = head;
        *(u32u *)(d + n - 4) = tail;
    } else if (n >= 2) {
        uint16_t head = *(const u16u *)s;
        uint16_t tail = *(const u16u *)(s + n - 2);
        *(u16u *)d = head;
        *(u16u *)(d + n - 2) = tail;
    } else if (n == 1) {
        *d = *s;
    }
}

/*
 * n > 32, low to high in 32-byte blocks; the last 32 bytes are loaded first and stored last.
 * Correct when the ranges do not overlap or when d < s: a block is read before anything at or
 * above it is written.
 */
static void copy_forward(byte *d, const byte *s, size_t n)
{
    v16u tail0 = *(const v16u *)(s + n - 32);
    v16u tail1 = *(const v16u *)(s + n - 16);
    for (size_t i = 0; i < n - 32; i += 32) {
        v16u a = *(const v16u *)(s + i);
        v16u b = *(const v16u *)(s + i + 16);
        *(v16u *)(d + i) = a;
        *(v16u *)(d + i + 16) = b;
    }
    *(v16u *)(d + n - 32) = tail0;
    *(v16u *)(d + n - 16) = tail1;
}

/* n > 32, high to low; the first 32 bytes are loaded first and stored last. For s < d. */
static void copy_backward(byte *d, const byte *s, size_t n)
{
    v16u head0 = *(const v16u *)s;
    v16u head1 = *(const v16u *)(s + 16);
    for (size_t end = n; end > 32;) {
        end -= 32;
        v16u a = *(const v16u *)(s + end);
        v16u b = *(const v16u *)(s + end + 16);
        *(v16u *)(d + end) = a;
        *(v16u *)(d + end + 16) = b;
    }
    *(v16u *)d = head0;
    *(v16u *)(d + 16) = head1;
}

void *shipgate_memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    if (n <= 32)
        copy_upto32(dst, src, n);
    else
        copy_forward(dst, src, n);
    return dst;
}

void *shipgate_memmove(void *dst, const void *src, size_t n)
{
    byte *d = dst;
    const byte *s = src;
    if (n <= 32)
        copy_upto32(d, s, n);
    else if ((uintptr_t)d - (uintptr_t)s >= n) /* d < s, or no overlap */
        copy_forward(d, s, n);
    else
        copy_backward(d, s, n);
    return dst;
}

/* Big-endian value of 8 bytes, so that integer order is the bytes' lexicographic order. */
static inline uint64_t load_be64(const byte *p)
{
    uint64_t v = *(const u64u *)p;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

int shipgate_memcmp(const void *a, const void *b, size_t n)
{
    const byte *l = a, *r = b;
    if (n < 8) {
        for (; n; n--, l++, r++)
            if (*l != *r)
                return *l - *r;
        return 0;
    }
    /* 8 bytes at a time; the last block overlaps the one before, whose bytes were equal. */
    for (;;) {
        uint64_t x = load_be64(l), y = load_be64(r);
        if (x != y)
            return x < y ? -1 : 1;
        if (n == 8)
            return 0;
        size_t step = n - 8 < 8 ? n - 8 : 8;
        l += step;
        r += step;
        n -= step;
    }
}

int shipgate_bcmp(const void *a, const void *b, size_t n)
{
    const byte *l = a, *r = b;
    if (n >= 8) {
        while (n > 8) {
            if (*(const u64u *)l != *(const u64u *)r)
                return 1;
            l += 8;
            r += 8;
            n -= 8;
        }
        return *(const u64u *)(l + n - 8) != *(const u64u *)(r + n - 8);
    }
    if (n >= 4)
        return ((*(const u32u *)l ^ *(const u32u *)r) |
                (*(const u32u *)(l + n - 4) ^ *(const u32u *)(r + n - 4))) != 0;
    for (; n; n--, l++, r++)
        if (*l != *r)
            return 1;
    return 0;
}

#ifdef SHIPGATE_REPLACE_LIBC_MEM
void *memcpy(void *restrict, const void *restrict, size_t) __attribute__((alias("shipgate_memcpy")));
void *memmove(void *, const void *, size_t) __attribute__((alias("shipgate_memmove")));
int memcmp(const void *, const void *, size_t) __attribute__((alias("shipgate_memcmp")));
int bcmp(const void *, const void *, size_t) __attribute__((alias("shipgate_bcmp")));
#endif
