#!/usr/bin/env python
# Placeholder for the zero_to_fp32.py script that DeepSpeed copies into the save directory.
# llavapack must ignore it (never execute it).
