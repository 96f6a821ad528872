// SPDX-License-Identifier: GPL-2.0
/*
 * riptides: the sample out-of-tree module the pipeline builds by default.
 * It does nothing but say, on load, which driver version it is, and show
 * that version in /sys/module/riptides/parameters/version, so that a test
 * can tell the module it built from any other.
 */
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>

#ifndef RIPTIDES_VERSION
#define RIPTIDES_VERSION "v0.0.0-dev"
#endif

static char *version = RIPTIDES_VERSION;
/* 0444: readable by all, and the kernel refuses to let anyone change it. */
module_param(version, charp, 0444);
MODULE_PARM_DESC(version, "driver version this module was built as");

static int __init riptides_init(void)
{
	pr_info("riptides: driver %s loaded\n", RIPTIDES_VERSION);
	return 0;
}

static void __exit riptides_exit(void)
{
	pr_info("riptides: driver %s unloaded\n", RIPTIDES_VERSION);
}

module_init(riptides_init);
module_exit(riptides_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("driverbuild");
MODULE_DESCRIPTION("riptides sample driver");
MODULE_VERSION(RIPTIDES_VERSION);
