/*
 * api_switch: POST /switchover, DELETE /switchover, POST /failover — store
 * routes (api_store.c's table), served by every node. See api_switch.c.
 * Their data is the node's struct api_store_ctx.
 */
#ifndef REGENT_API_SWITCH_H
#define REGENT_API_SWITCH_H

#include "api/api.h"

void api_on_switchover(void *data, struct api_req *req);
void api_on_switchover_delete(void *data, struct api_req *req);
void api_on_failover(void *data, struct api_req *req);

#endif
