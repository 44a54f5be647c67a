/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 */

#ifndef _LINUX_NITRO_ENCLAVES_H_
#define _LINUX_NITRO_ENCLAVES_H_

#include <uapi/linux/nitro_enclaves.h>

#endif /* _LINUX_NITRO_ENCLAVES_H_ */
