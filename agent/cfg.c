/* placeholder: being written */
#include "agent/cfg.h"
