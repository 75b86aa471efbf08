#!/bin/bash
# Whatever tests are needed
# E.g., send request and verify response
exit 0
