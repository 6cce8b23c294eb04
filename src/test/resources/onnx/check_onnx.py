"""Checks one llavapack ONNX file with Debian's python3-onnx (1.12) and prints a JSON verdict.

onnx 1.12 knows IR <= 8 and opsets <= 17, while llavapack writes IR 10 / opset 21 for onnxruntime 1.22. So:
- the IR stamp is lowered to 8 in memory before checking (nothing written back);
- every node is checked on its own (check_node); nodes the checker cannot know are reported as "unchecked" with the
  reason: ops whose schema changed after opset 17 (ReduceMean/ReduceSum take axes as an input since opset 18) and
  onnxruntime's com.microsoft contrib ops (GroupQueryAttention, MatMulNBits), for which onnx has no schemas at all;
- when no node is unchecked, the whole model goes through check_model(full_check=True), which adds graph
  structure, external data and strict shape inference checks.
Usage: check_onnx.py MODEL.onnx
"""
import json
import sys

import onnx
from onnx import checker

path = sys.argv[1]
model = onnx.load(path)  # loads the external data file next to it
model.ir_version = 8
ctx = checker.C.CheckerContext()
ctx.ir_version = 8
ctx.opset_imports = {o.domain: o.version for o in model.opset_import}
checked, unchecked, errors = 0, [], []
for node in model.graph.node:
    if node.domain == "com.microsoft":
        # check_node passes nodes of domains it has no schemas for without looking: say so instead.
        unchecked.append({"op": node.op_type, "domain": node.domain, "why": "contrib-domain op: no schema in onnx"})
        continue
    try:
        checker.check_node(node, ctx)
        checked += 1
    except checker.ValidationError as e:
        first = str(e).strip().splitlines()[0]
        if node.op_type in ("ReduceMean", "ReduceSum") and len(node.input) == 2:
            unchecked.append({"op": node.op_type, "domain": "", "why": "opset-18 form (axes input) is newer than onnx 1.12"})
        else:
            errors.append({"node": node.name, "op": node.op_type, "error": first})
result = {"onnx": onnx.__version__, "nodes": len(model.graph.node), "checked": checked, "unchecked": unchecked, "errors": errors}
if not unchecked and not errors:
    try:
        checker.check_model(model, full_check=True)
        result["full_check"] = "ok"
    except Exception as e:  # report, do not hide
        result["full_check"] = "failed: " + str(e).strip().splitlines()[0]
else:
    result["full_check"] = "skipped: some nodes cannot be checked by onnx " + onnx.__version__
print(json.dumps(result))
