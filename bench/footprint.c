/* footprint.c - row 6: resident memory added by loading a library.
 *
 *   footprint LIB...   prints {"row":"rss","impl":LIB,"kib":N} with VmRSS after
 *                      dlopen(LIB, RTLD_NOW) minus VmRSS before, for each LIB in turn
 *                      (the driver runs one LIB per fresh process)
 *
 * This program links nothing but the C library, so whatever a library pulls
 * in (libgcc_s, libmd, ...) counts towards it.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long vmrss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long v = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        long before = vmrss_kib();
        void *h = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
        long after = vmrss_kib();
        if (!h) {
            fprintf(stderr, "footprint: dlopen %s: %s\n", argv[i], dlerror());
            return 1;
        }
        printf("{\"row\":\"rss\",\"impl\":\"%s\",\"kib\":%ld}\n", argv[i], after - before);
    }
    return 0;
}
