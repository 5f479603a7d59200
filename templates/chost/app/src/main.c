/* {{name}}: a C host. The UI is embedded with C23's #embed (zig cc's clang); the Zig static
 * library is linked in by ppm.
 *
 *   {{name}}                one line per language
 *   {{name}} --self-check   exit 0 if every component answers correctly
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

uint64_t zigz_sum_squares(uint32_t n);

static const unsigned char index_html[] = {
#embed <index.html>
};
static const unsigned char ui_js[] = {
#embed <ui.js>
};
static const unsigned char ui_css[] = {
#embed <ui.css>
};

static int zig(char *line, size_t n) {
    uint64_t total = zigz_sum_squares(10);
    snprintf(line, n, "sum_of_squares(10) = %llu", (unsigned long long)total);
    return total == 385;
}

/* Whether `needle` occurs in the first `len` bytes of `hay` (which holds no terminating NUL). */
static int contains(const unsigned char *hay, size_t len, const char *needle) {
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        if (memcmp(hay + i, needle, k) == 0) return 1;
    return 0;
}

static int typescript(char *line, size_t n) {
    size_t total = sizeof index_html + sizeof ui_js + sizeof ui_css;
    snprintf(line, n, "ui bundle %zu bytes (index.html, ui.js, ui.css)", total);
    return contains(index_html, sizeof index_html, "<script src=\"ui.js\">") && sizeof ui_js > 0 && sizeof ui_css > 0;
}

static int c(char *line, size_t n) {
#if defined(_WIN32)
    const char *os = "windows";
#else
    const char *os = "linux";
#endif
#if defined(__aarch64__)
    const char *arch = "aarch64";
#else
    const char *arch = "x86_64";
#endif
    snprintf(line, n, "C%ld host (%s/%s)", (long)(__STDC_VERSION__ / 100), os, arch);
    return 1;
}

int main(int argc, char **argv) {
    struct { const char *language, *component; int (*run)(char *, size_t); } checks[] = {
        {"c", "app", c}, {"zig", "zigz", zig}, {"typescript", "ui", typescript},
    };
    int self_check = argc > 1 && strcmp(argv[1], "--self-check") == 0;
    int failed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        char line[160];
        int ok = checks[i].run(line, sizeof line);
        failed |= !ok;
        if (self_check)
            printf("%s  %s\n", ok ? "ok  " : "FAIL", checks[i].component);
        else
            printf("%s: %s%s\n", checks[i].language, ok ? "" : "error: ", line);
    }
    return failed;
}
