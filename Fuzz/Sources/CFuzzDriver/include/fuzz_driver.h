// libFuzzer's entry for programs that have their own main (SwiftPM links every executable
// target with its own entry symbol, so the targets call the driver from it).
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
