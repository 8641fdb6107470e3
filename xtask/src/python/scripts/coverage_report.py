"""Combine coverage data files and write every report, in one interpreter.

Run by the xtask with the project's environment:
    python coverage_report.py RCFILE DATA_FILE HTML_DIR XML_FILE JSON_FILE
Prints one JSON object on the last line of stdout.
"""

import glob
import io
import json
import os
import shutil
import sys

import coverage
from coverage.exceptions import CoverageException


def fail(kind, message, path=None):
    print(json.dumps({"error": kind, "message": message, "file": path}))
    sys.exit(2)


def replace_dir(tmp, final):
    old = final + ".old"
    if os.path.exists(old):
        shutil.rmtree(old)
    if os.path.exists(final):
        os.rename(final, old)
    os.rename(tmp, final)
    if os.path.exists(old):
        shutil.rmtree(old)


def main():
    rcfile, data_file, html_dir, xml_file, json_file = sys.argv[1:6]
    parts = sorted(p for p in glob.glob(data_file + ".*") if not p.endswith((".tmp", "-journal")))
    if not parts and not os.path.exists(data_file):
        fail("no-data", "no coverage data files")
    # Check each data file first, so a corrupt one is named.
    for path in parts:
        try:
            data = coverage.CoverageData(basename=path)
            data.read()
        except Exception as exc:  # coverage raises DataError, sqlite3 errors leak through on some files
            fail("corrupt", f"{exc}", path)
    cov = coverage.Coverage(config_file=rcfile, data_file=data_file)
    try:
        if parts:
            cov.combine(data_paths=parts, keep=True)
            cov.save()
        else:
            cov.load()
        text = io.StringIO()
        total = cov.report(file=text)
        tmp_html = html_dir + ".tmp"
        if os.path.exists(tmp_html):
            shutil.rmtree(tmp_html)
        cov.html_report(directory=tmp_html)
        replace_dir(tmp_html, html_dir)
        for writer, final in ((cov.xml_report, xml_file), (cov.json_report, json_file)):
            tmp = final + ".tmp"
            writer(outfile=tmp)
            os.replace(tmp, final)
    except CoverageException as exc:
        fail("coverage", str(exc))
    files = len(cov.get_data().measured_files())
    print(json.dumps({"total": total, "files": files, "data_files": len(parts), "report": text.getvalue()}))


if __name__ == "__main__":
    main()
