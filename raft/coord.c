/* placeholder: being written */
#include "raft/coord.h"
