"""Run pytest-split's algorithms on given durations and print each group's total.

stdin: {"ids": [...], "durations": {id: seconds}, "ks": [2, 4, ...]}
stdout: {"least_duration": {"2": [..], ...}, "duration_based_chunks": {...}}
"""

import json
import sys

from pytest_split.algorithms import Algorithms


class Item:
    def __init__(self, nodeid):
        self.nodeid = nodeid


def main():
    data = json.load(sys.stdin)
    items = [Item(i) for i in data["ids"]]
    out = {}
    for algo in Algorithms:
        out[algo.name] = {str(k): [g.duration for g in algo.value(k, items, data["durations"])] for k in data["ks"]}
    print(json.dumps(out))


main()
