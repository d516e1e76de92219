/* placeholder: being written */
#include "raft/rtx.h"
