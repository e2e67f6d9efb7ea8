/* Swift cannot call jansson's variadic or macro helpers; nothing here needs them yet. */
#ifndef HL_CJANSSON_SHIM_H
#define HL_CJANSSON_SHIM_H
#include <jansson.h>
static inline size_t hl_jansson_compact_flags(void) { return (size_t)(JSON_COMPACT | JSON_ENCODE_ANY); }
#endif
