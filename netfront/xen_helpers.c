// SPDX-License-Identifier: GPL-2.0
/* The shared C helpers, compiled into this module. */
#include "../common/kernel/helpers.c"
#include "../common/kernel/net_helpers.c"
