// The C side of the engine callback: libhumanloop calls hlgo_trampoline on its engine thread;
// the trampoline hands the item to Go (hlgoCallback copies it) and frees it.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "humanloop.h"
#include "_cgo_export.h"

static void hlgo_trampoline(hl_call *call, char *item_json, void *user_data) {
    int terminal = hlgoCallback(call, item_json, strlen(item_json), (uintptr_t)user_data);
    hl_free(item_json);
    if (terminal) hl_call_free(call);   /* allowed from the call's own callback */
}

hl_call *hlgo_start(hl_client *client, const char *name, const char *request_json,
                    const char *options_json, uintptr_t handle) {
    return hl_call_start(client, name, request_json, options_json, hlgo_trampoline, (void *)handle);
}
