/*
 * The allocator of the wasm core, in place of the C library's (wasi-libc's
 * dlmalloc, Emscripten's emmalloc): the same module from either compiler, and
 * ~5 KB less code than dlmalloc for the size budget.
 *
 * What allocates here is small and regular: the bindings' regions (keys,
 * messages, signatures; freed by pqc_free after zeroing) and the pinned
 * sources' SHAKE and AES contexts (freed by pqc_zfree after zeroing). So a
 * segregated free list is enough: each block belongs to one size class for
 * life (16-byte steps up to 256 bytes, then four classes per power of two, so
 * at most a quarter of a large block is unused); a freed block goes on its
 * class's list and is handed out again for the next request of that class.
 * Blocks are never split or merged, and memory grows (memory.grow) but never
 * shrinks, as with any wasm allocator. Every block starts 16-byte aligned.
 *
 * Nothing here wipes: pqc_free and pqc_zfree zero a region before it comes
 * back (pqc_memory.c), so a block on a free list holds zeros but for the list
 * pointer in its first bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HEADER 16u   /* the block's size, padded so that the payload stays 16-byte aligned */
#define SMALL 256u   /* up to here, one class per 16 bytes */
#define CLASSES 112u /* 16 small classes + 4 per power of two from 2^8 to 2^31 */
#define PAGE 65536u
#define MAX_REQUEST 0x7fff0000u

extern unsigned char __heap_base;

static uintptr_t heap_top;
static void *free_lists[CLASSES];

/*
 * The class of a block of `total` bytes (a multiple of 16, header included), and each class's block size.
 * No pointer out-parameters anywhere here: an address-taken local would live on the wasm stack, and the
 * bindings' memory test requires the whole stack to be zero after every call.
 */
static unsigned class_of(size_t total) {
    if (total <= SMALL) {
        return (unsigned)(total / 16u - 1u);
    }
    unsigned shift = 8;
    while (((size_t)1 << (shift + 1)) < total) {
        shift++;
    }
    size_t step = ((size_t)1 << shift) / 4u;
    size_t sub = (total - ((size_t)1 << shift) + step - 1u) / step; /* 1..4 */
    return 16u + (shift - 8u) * 4u + (unsigned)(sub - 1u);
}

static size_t class_size(unsigned c) {
    if (c < 16u) {
        return (c + 1u) * 16u;
    }
    size_t base = (size_t)1 << (8u + (c - 16u) / 4u);
    return base + (base / 4u) * ((c - 16u) % 4u + 1u);
}

/* Takes `size` bytes from the top of the heap, growing memory when needed; 0 when it cannot grow. */
static uintptr_t take_from_top(size_t size) {
    if (heap_top == 0) {
        heap_top = ((uintptr_t)&__heap_base + 15u) & ~(uintptr_t)15u;
    }
    uintptr_t end = heap_top + size;
    if (end < heap_top) {
        return 0;
    }
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * PAGE;
    if (end > have) {
        size_t pages = (size_t)((end - have + PAGE - 1u) / PAGE);
        if (__builtin_wasm_memory_grow(0, pages) == (size_t)-1) {
            return 0;
        }
    }
    uintptr_t block = heap_top;
    heap_top = end;
    return block;
}

void *malloc(size_t n) {
    if (n > MAX_REQUEST) {
        return NULL;
    }
    unsigned c = class_of((n + HEADER + 15u) & ~(size_t)15u);
    unsigned char *payload = free_lists[c];
    if (payload != NULL) {
        free_lists[c] = *(void **)payload;
        *(void **)payload = NULL;
        return payload;
    }
    size_t size = class_size(c);
    uintptr_t block = take_from_top(size);
    if (block == 0) {
        return NULL;
    }
    *(size_t *)block = size;
    return (unsigned char *)block + HEADER;
}

void free(void *p) {
    if (p == NULL) {
        return;
    }
    unsigned c = class_of(*(size_t *)((unsigned char *)p - HEADER));
    *(void **)p = free_lists[c];
    free_lists[c] = p;
}

size_t malloc_usable_size(void *p) {
    return p == NULL ? 0 : *(size_t *)((unsigned char *)p - HEADER) - HEADER;
}

void *calloc(size_t count, size_t n) {
    if (n != 0 && count > MAX_REQUEST / n) {
        return NULL;
    }
    void *p = malloc(count * n);
    if (p != NULL) {
        memset(p, 0, count * n);
    }
    return p;
}
