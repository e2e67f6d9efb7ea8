/* CJansson shim: jansson for the Swift tests (they check our JSON parser against it).
 * Nothing variadic or macro-based is needed from Swift, so the header is included as is. */
#ifndef HL_CJANSSON_SHIM_H
#define HL_CJANSSON_SHIM_H
#include <jansson.h>
#endif
