/* The first stage of the single-file ecs-migrate (./scripts/build-binary).
 *
 * The file is this small static program, then the staticx program (the frozen ecs-migrate
 * with the glibc it carries), then a trailer: the payload's offset and size, and a magic word.
 * The payload unpacks itself into a temporary directory at each start (about 50 MB); on a
 * read-only root file system with no writable volume it would die with its own terse error.
 * So this stage, before anything is unpacked:
 *
 * 1. finds a writable temporary directory: $TMPDIR, then /tmp, /var/tmp, /dev/shm. When it is
 *    not the one the payload would take by itself ($TMPDIR, else /tmp), it sets TMPDIR to it
 *    and says what TMPDIR was in _ECS_MIGRATE_TMPDIR_ORIG (or _ECS_MIGRATE_TMPDIR_UNSET=1), so
 *    that apply gives the migration its TMPDIR back (commands/apply/ownenv.py);
 * 2. finding none, says what to add to the task definition, and exits 3 (a configuration
 *    error, as ecs-migrate's own);
 * 3. writes the payload into a directory of its own there and execs it (exec, not fork: it
 *    stays PID 1, so the signals ECS sends reach it). It is named in _ECS_MIGRATE_PAYLOAD, and
 *    ecs-migrate removes it as soon as its Python code starts (src/ecs_migrate/binary.py);
 *    staticx needs its program as a file it can find by /proc/self/exe's link, so it cannot
 *    run from memory (memfd).
 *
 * It uses no libc beyond the system calls' wrappers, and is linked statically (musl-gcc, or
 * gcc -static).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "ECSMIGRATE-PAYLD" /* 16 bytes, no terminator in the file */
#define TRAILER_SIZE 32          /* offset (8, little-endian), size (8), magic (16) */

extern char **environ;

static const char NO_TMPDIR[] =
    "ecs-migrate: no writable temporary directory: the single-file binary unpacks about 50 MB\n"
    "there at each start, and TMPDIR (%s), /tmp, /var/tmp and /dev/shm are missing or\n"
    "read-only (a read-only root file system?).\n"
    "hint: in the task definition, mount a volume on /tmp in the container:\n"
    "  \"mountPoints\": [{\"sourceVolume\": \"tmp\", \"containerPath\": \"/tmp\"}]\n"
    "and declare it in the task: \"volumes\": [{\"name\": \"tmp\"}]\n"
    "(or set TMPDIR in the container's \"environment\" to a writable volume's path).\n";

static int writable(const char *dir) {
    char probe[4096];
    if (dir == NULL || dir[0] == '\0') return 0;
    if (snprintf(probe, sizeof probe, "%s/.ecs-migrate-XXXXXX", dir) >= (int)sizeof probe)
        return 0;
    if (mkdtemp(probe) == NULL) return 0;
    rmdir(probe);
    return 1;
}

static int fail(const char *what) {
    fprintf(stderr, "ecs-migrate: cannot start: %s: %s\n", what, strerror(errno));
    return 3;
}

static uint64_t little_endian(const unsigned char *bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) value = (value << 8) | bytes[i];
    return value;
}

/* The directory to unpack into (TMPDIR set to it when the payload would not take it by
 * itself), or NULL when there is none. */
static const char *choose_tmpdir(void) {
    const char *given = getenv("TMPDIR");
    static const char *candidates[] = {"/tmp", "/var/tmp", "/dev/shm"};
    if (given != NULL && given[0] != '\0' && writable(given)) return given;
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        if (!writable(candidates[i])) continue;
        if (given == NULL && i == 0) return candidates[i]; /* /tmp: the payload's default */
        if (given != NULL) setenv("_ECS_MIGRATE_TMPDIR_ORIG", given, 1);
        else setenv("_ECS_MIGRATE_TMPDIR_UNSET", "1", 1);
        setenv("TMPDIR", candidates[i], 1);
        return candidates[i];
    }
    fprintf(stderr, NO_TMPDIR, given == NULL ? "unset" : given);
    return NULL;
}

/* The payload's bytes into ``target``: by the kernel (sendfile), else through a buffer. */
static int copy_payload(int self, int target, uint64_t offset, uint64_t size) {
    static char buffer[1 << 16];
    off_t at = (off_t)offset;
    while (size > 0) {
        ssize_t sent = sendfile(target, self, &at, size < (1U << 30) ? size : (1U << 30));
        if (sent <= 0) break;
        size -= (uint64_t)sent;
    }
    if (size > 0 && lseek(self, at, SEEK_SET) < 0) return -1;
    while (size > 0) {
        ssize_t got = read(self, buffer, size < sizeof buffer ? size : sizeof buffer);
        if (got <= 0) return -1;
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(target, buffer + done, (size_t)(got - done));
            if (put < 0) return -1;
            done += put;
        }
        size -= (uint64_t)got;
    }
    return 0;
}

int main(int argc, char **argv) {
    unsigned char trailer[TRAILER_SIZE];
    static char directory[4096], program[4200];
    (void)argc;
    const char *tmpdir = choose_tmpdir();
    if (tmpdir == NULL) return 3;
    int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (self < 0) return fail("reading /proc/self/exe (is /proc mounted?)");
    if (lseek(self, -TRAILER_SIZE, SEEK_END) < 0 ||
        read(self, trailer, TRAILER_SIZE) != TRAILER_SIZE)
        return fail("reading its own file");
    if (memcmp(trailer + 16, MAGIC, 16) != 0) {
        fprintf(stderr, "ecs-migrate: cannot start: the file is damaged (no payload).\n");
        return 3;
    }
    snprintf(directory, sizeof directory, "%s/ecs-migrate-XXXXXX", tmpdir);
    if (mkdtemp(directory) == NULL) return fail(tmpdir);
    snprintf(program, sizeof program, "%s/ecs-migrate", directory);
    int target = open(program, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0700);
    if (target < 0) return fail(program);
    if (copy_payload(self, target, little_endian(trailer), little_endian(trailer + 8)) != 0 ||
        close(target) != 0) {
        unlink(program);
        rmdir(directory);
        return fail("unpacking");
    }
    close(self);
    setenv("_ECS_MIGRATE_PAYLOAD", program, 1);
    execve(program, argv, environ);
    int saved = errno;
    unlink(program);
    rmdir(directory);
    errno = saved;
    return fail(program);
}
