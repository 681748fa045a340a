/* autocircuit — automated circuit discovery for transformer language models.
 * Umbrella header: include this one. Each part documents its own functions. */
#ifndef AUTOCIRCUIT_H
#define AUTOCIRCUIT_H

#include "autocircuit/base.h"
#include "autocircuit/model.h"
#include "autocircuit/metrics.h"
#include "autocircuit/tokenizer.h"
#include "autocircuit/dataset.h"
#include "autocircuit/graph.h"
#include "autocircuit/engine.h"
#include "autocircuit/algos.h"
#include "autocircuit/scores.h"
#include "autocircuit/zoo.h"
#include "autocircuit/tasks.h"
#include "autocircuit/report.h"
#include "autocircuit/train.h"

#endif
