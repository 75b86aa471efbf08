#!/bin/sh
# $1: GROUP or INSTANCE, $2: its name, $3: MASTER, BACKUP or FAULT
echo "ipfailover: $2 is now $3" >&2
