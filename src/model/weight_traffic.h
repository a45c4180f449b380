/* How many bytes of weights one decoded token reads: the denominator of the decode ceiling
 * (measured read bandwidth / bytes per token). */
#ifndef CN_MODEL_WEIGHT_TRAFFIC_H
#define CN_MODEL_WEIGHT_TRAFFIC_H

#include <stdint.h>

#include "model/model.h"

typedef struct {
    double dense;       /* attention, mHC, router, shared experts, compressors, indexer */
    double routed;      /* the K routed experts of every layer */
    double head;        /* LM head (every row) plus one embedding row */
    double per_token;   /* sum of the above */
    double active_params; /* weight elements multiplied per token: FLOPs = 2x this */
    double int8_dot;    /* of per_token, the bytes of matrices multiplied with 8-bit activations
                           (act_q8 set and a format with an integer dot: cn_q8_layout_of) */
    double head_params;   /* of which the LM head's (hc_head and head): a prompt needs them for its last row only */
} cn_weight_traffic;

/* Bytes a matrix occupies in its stored format, scales included. */
double cn_matrix_bytes(const cn_matrix *m);

cn_weight_traffic cn_model_weight_traffic(const cn_model *model);

#endif
