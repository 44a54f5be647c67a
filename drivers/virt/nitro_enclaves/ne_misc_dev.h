/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copyright (C) 2026 The Nitro Enclaves driver authors.
 *
 * Nitro Enclaves misc device, /dev/nitro_enclaves (ne_misc_dev.c).
 */

#ifndef _NE_MISC_DEV_H_
#define _NE_MISC_DEV_H_

struct ne_pci_dev;

/* Provided by ne_misc_dev.c, called by ne_pci_dev.c. */
int ne_misc_dev_register(struct ne_pci_dev *ndev);
void ne_misc_dev_unregister(struct ne_pci_dev *ndev);

#endif /* _NE_MISC_DEV_H_ */
