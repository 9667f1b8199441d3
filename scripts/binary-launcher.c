/* The first stage of the single-file ecs-migrate (./scripts/build-binary).
 *
 * The file is this small static program, then the payload, then a trailer: the payload's
 * offset and size (8 bytes each, little-endian) and a magic word (16 bytes). The payload is
 * one LZ4 frame holding a tree of files (below): the frozen program (PyInstaller's one-folder
 * build: its bootloader, Python, psycopg's libpq...) and the glibc and loader it was built
 * against. At each start this stage:
 *
 * 1. finds a writable temporary directory that allows programs to run: $TMPDIR, then /tmp,
 *    /var/tmp, /dev/shm (Docker mounts /dev/shm noexec: skipped then). When it is not the one
 *    the task gave ($TMPDIR, else /tmp), it sets TMPDIR to it and says what TMPDIR was in
 *    _ECS_MIGRATE_TMPDIR_ORIG (or _ECS_MIGRATE_TMPDIR_UNSET=1), so that apply gives the
 *    migration its TMPDIR back (commands/apply/ownenv.py);
 * 2. finding none, says what to add to the task definition, and exits 3 (a configuration
 *    error, as ecs-migrate's own);
 * 3. unpacks the tree into a directory of its own there (LZ4 decompresses at several GB/s:
 *    tens of milliseconds for the tree's 35 MB, writing included), and execs the carried loader on the program, with the
 *    carried libraries first (exec, not fork: the program stays PID 1, so the signals ECS
 *    sends reach it). The directory is named in _ECS_MIGRATE_PAYLOAD, and ecs-migrate removes
 *    it when it exits (src/ecs_migrate/binary.py). On any failure here it is removed at once.
 *
 * The tree: "ECSMIGRATE-TREE1", the loader's path in the tree and a NUL, then entries: a kind
 * ('d' directory, 'f' file, 'l' symbolic link), its mode (2 bytes), the path's length (2), the
 * data's length (8: a file's bytes, a link's target), the path, the data; a kind 0 ends it.
 *
 * It is linked statically (gcc -static, with liblz4's frame decoder): it needs no libc from the image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <lz4frame.h>
#include <sys/mman.h>

#define MAGIC "ECSMIGRATE-PAYLD" /* 16 bytes, no terminator in the file */
#define TRAILER_SIZE 32          /* offset (8, little-endian), size (8), magic (16) */
#define TREE_MAGIC "ECSMIGRATE-TREE1"

extern char **environ;

static const char NO_TMPDIR[] =
    "ecs-migrate: no writable temporary directory: the single-file binary unpacks about %llu MB\n"
    "there at each start, and TMPDIR (%s), /tmp, /var/tmp and /dev/shm are missing, read-only\n"
    "or mounted noexec (a read-only root file system?).\n"
    "hint: in the task definition, mount a volume on /tmp in the container:\n"
    "  \"mountPoints\": [{\"sourceVolume\": \"tmp\", \"containerPath\": \"/tmp\"}]\n"
    "and declare it in the task: \"volumes\": [{\"name\": \"tmp\"}]\n"
    "(or set TMPDIR in the container's \"environment\" to a writable volume's path).\n";

static char directory[4096]; /* where the tree is unpacked, once made */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(void) {
    if (directory[0] != '\0') nftw(directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int fail(const char *what) {
    int saved = errno;
    remove_tree();
    fprintf(stderr, "ecs-migrate: cannot start: %s: %s\n", what, strerror(saved));
    if (saved == ENOSPC)
        fprintf(stderr, "hint: the single-file binary unpacks itself into TMPDIR at each "
                        "start: give it a larger volume, or free space there.\n");
    return 3;
}

static int damaged(void) {
    remove_tree();
    fprintf(stderr, "ecs-migrate: cannot start: the file is damaged (download it again and "
                    "check its checksum).\n");
    return 3;
}

static uint64_t little_endian(const unsigned char *bytes, int size) {
    uint64_t value = 0;
    for (int i = size - 1; i >= 0; i--) value = (value << 8) | bytes[i];
    return value;
}

/* Whether ``dir`` takes a new directory and lets programs run from it (not noexec). */
static int usable(const char *dir) {
    char probe[4096];
    struct statvfs fs;
    if (dir == NULL || dir[0] == '\0') return 0;
    if (snprintf(probe, sizeof probe, "%s/.ecs-migrate-XXXXXX", dir) >= (int)sizeof probe)
        return 0;
    if (mkdtemp(probe) == NULL) return 0;
    int allowed = statvfs(probe, &fs) == 0 && !(fs.f_flag & ST_NOEXEC);
    rmdir(probe);
    return allowed;
}

/* The directory to unpack into (TMPDIR set to it when the task's is not usable), or NULL
 * when there is none. */
static const char *choose_tmpdir(unsigned long long megabytes) {
    const char *given = getenv("TMPDIR");
    static const char *candidates[] = {"/tmp", "/var/tmp", "/dev/shm"};
    if (given != NULL && given[0] != '\0' && usable(given)) return given;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!usable(candidates[i])) continue;
        if (given == NULL && i == 0) return candidates[i]; /* /tmp: the default anyway */
        if (given != NULL) setenv("_ECS_MIGRATE_TMPDIR_ORIG", given, 1);
        else setenv("_ECS_MIGRATE_TMPDIR_UNSET", "1", 1);
        setenv("TMPDIR", candidates[i], 1);
        return candidates[i];
    }
    fprintf(stderr, NO_TMPDIR, megabytes, given == NULL ? "unset" : given);
    return NULL;
}

/* The payload (``packed`` bytes at ``in``), decompressed: a buffer of ``*size`` bytes, or NULL
 * (the file is damaged). */
static unsigned char *read_tree(const unsigned char *in, size_t packed, size_t *size) {
    LZ4F_dctx *context = NULL;
    LZ4F_frameInfo_t info;
    size_t consumed = packed;
    unsigned char *out = NULL;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&context, LZ4F_VERSION))) return NULL;
    if (!LZ4F_isError(LZ4F_getFrameInfo(context, &info, in, &consumed)) &&
        info.contentSize > 0 && (out = malloc(info.contentSize)) != NULL) {
        size_t made = info.contentSize, read = packed - consumed;
        size_t left = LZ4F_decompress(context, out, &made, in + consumed, &read, NULL);
        if (LZ4F_isError(left) || left != 0 || made != info.contentSize) {
            free(out);
            out = NULL;
        }
        *size = (size_t)info.contentSize;
    }
    LZ4F_freeDecompressionContext(context);
    return out;
}

static int write_all(int fd, const unsigned char *data, uint64_t size) {
    while (size > 0) {
        ssize_t put = write(fd, data, size < (1U << 30) ? size : (1U << 30));
        if (put < 0) return -1;
        data += put;
        size -= (uint64_t)put;
    }
    return 0;
}

/* One entry of the tree made under ``directory``; -1 with errno set when it cannot be. */
static int make_entry(char kind, unsigned mode, const char *path, const unsigned char *data,
                      uint64_t size) {
    if (kind == 'd') return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
    if (kind == 'l') {
        char target[4096];
        if (size >= sizeof target) return errno = EINVAL, -1;
        memcpy(target, data, size);
        target[size] = '\0';
        return symlink(target, path);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return -1;
    int written = write_all(fd, data, size);
    return close(fd) != 0 || written != 0 ? -1 : 0;
}

/* The tree into ``directory``; 0, -1 with errno set (a file), or -2 (damaged). */
static int unpack(const unsigned char *tree, size_t size, const char **loader) {
    static char path[8192];
    const unsigned char *at = tree + 16, *end = tree + size;
    if (size < 17 || memcmp(tree, TREE_MAGIC, 16) != 0) return -2;
    *loader = (const char *)at;
    at = memchr(at, '\0', (size_t)(end - at));
    if (at == NULL) return -2;
    for (at++; at < end && *at != 0;) {
        if (end - at < 13) return -2;
        char kind = (char)at[0];
        unsigned mode = (unsigned)little_endian(at + 1, 2);
        uint64_t length = little_endian(at + 3, 2), bytes = little_endian(at + 5, 8);
        at += 13;
        uint64_t left = (uint64_t)(end - at);
        if (length == 0 || length > left || bytes > left - length) return -2;
        snprintf(path, sizeof path, "%s/%.*s", directory, (int)length, (const char *)at);
        if (make_entry(kind, mode, path, at + length, bytes) != 0) return -1;
        at += length + bytes;
    }
    return at < end ? 0 : -2;
}

int main(int argc, char **argv) {
    unsigned char trailer[TRAILER_SIZE];
    static char loader_path[8192], library_path[8192], program[8192];
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) return fail("reading /proc/self/exe (is /proc mounted?)");
    off_t file_size = lseek(self, 0, SEEK_END);
    if (file_size < TRAILER_SIZE ||
        pread(self, trailer, TRAILER_SIZE, file_size - TRAILER_SIZE) != TRAILER_SIZE)
        return fail("reading its own file");
    uint64_t offset = little_endian(trailer, 8), packed = little_endian(trailer + 8, 8);
    if (memcmp(trailer + 16, MAGIC, 16) != 0 || offset + packed > (uint64_t)file_size)
        return damaged();
    const unsigned char *image = mmap(NULL, (size_t)file_size, PROT_READ, MAP_PRIVATE, self, 0);
    if (image == MAP_FAILED) return fail("reading its own file");
    close(self);
    size_t size = 0;
    unsigned char *tree = read_tree(image + offset, (size_t)packed, &size);
    if (tree == NULL) return damaged();
    munmap((void *)image, (size_t)file_size);
    const char *tmpdir = choose_tmpdir((unsigned long long)size / 1000000 + 1);
    if (tmpdir == NULL) return 3;
    snprintf(directory, sizeof directory, "%s/ecs-migrate-XXXXXX", tmpdir);
    if (mkdtemp(directory) == NULL) return directory[0] = '\0', fail(tmpdir);
    char absolute[PATH_MAX]; /* a relative TMPDIR: the program's paths must not depend on cwd */
    if (realpath(directory, absolute) != NULL && strlen(absolute) < sizeof directory)
        strcpy(directory, absolute);
    const char *loader = NULL;
    int unpacked = unpack(tree, size, &loader);
    if (unpacked == -2) return damaged();
    if (unpacked != 0) return fail("unpacking into TMPDIR");
    snprintf(loader_path, sizeof loader_path, "%s/%s", directory, loader);
    snprintf(library_path, sizeof library_path, "%s/_internal", directory);
    snprintf(program, sizeof program, "%s/ecs-migrate", directory);
    free(tree);
    /* loader --library-path DIR PROGRAM ARGS...: the program's argv[0] is its own path. */
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (args == NULL) return fail("starting");
    args[0] = loader_path, args[1] = "--library-path", args[2] = library_path;
    args[3] = program;
    for (int i = 1; i < argc; i++) args[i + 3] = argv[i];
    setenv("_ECS_MIGRATE_PAYLOAD", directory, 1);
    execve(loader_path, args, environ);
    return fail(loader_path);
}
