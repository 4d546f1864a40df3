#include "app.h"
namespace roomcast::app {
int cmd_live(int, char **) { g_printerr("roomcast live: not built yet\n"); return 1; }
int cmd_watch(int, char **) { g_printerr("roomcast watch: not built yet\n"); return 1; }
}
