/* placeholder: being written */
#include "agent/rg_log.h"
