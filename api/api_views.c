/* placeholder: being written */
#include "agent/rg.h"
