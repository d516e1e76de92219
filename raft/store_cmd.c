/* placeholder: being written */
#include "raft/store_fsm.h"
