"""utils/ is grouped by reader and layered one way: a student who opens utils/ sees only what a notebook imports,
and no module imports one in its own layer or above, not even inside a function."""

import ast
import json
from pathlib import Path

import utils

UTILS = Path(utils.__file__).parent
NOTEBOOKS = sorted((UTILS.parent / "notebooks").glob("*.ipynb"))


def module_name(path: Path) -> str:
    """``utils/offline/cache.py`` -> ``offline.cache``."""
    return ".".join(path.relative_to(UTILS).with_suffix("").parts)


def modules() -> list[Path]:
    return sorted(p for p in UTILS.rglob("*.py") if p.name != "__init__.py")


def utils_imports(code: str) -> set[str]:
    """Every ``utils`` module some code imports, at any depth of it (``offline.cache``, ``sampling``, ...)."""
    found = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".", 1)[1] for a in node.names if a.name.startswith("utils.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "utils":
            package = node.module.partition(".")[2]
            for alias in node.names:
                name = f"{package}.{alias.name}" if package else alias.name
                found.add(name if name in utils.LAYERS else package)
    return found - {""}


def notebook_imports() -> set[str]:
    code = []
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code":
                code.append("\n".join(line for line in "".join(cell["source"]).splitlines()
                                      if not line.lstrip().startswith(("%", "!"))))
    return utils_imports("\n".join(code))


def test_every_module_has_a_layer():
    assert {module_name(p) for p in modules()} == set(utils.LAYERS)


def test_imports_only_go_down():
    upward = [f"{module_name(p)} (layer {utils.LAYERS[module_name(p)]}) imports {name} (layer {utils.LAYERS[name]})"
              for p in modules() for name in sorted(utils_imports(p.read_text()))
              if utils.LAYERS[name] >= utils.LAYERS[module_name(p)]]
    assert upward == []


def test_only_commands_import_commands():
    outside = [f"{module_name(p)} imports {name}" for p in modules() if not module_name(p).startswith("tools.")
               for name in utils_imports(p.read_text()) if name.startswith("tools.")]
    assert outside == []


def test_the_top_of_utils_holds_exactly_what_the_notebooks_import():
    top = {p.stem for p in UTILS.glob("*.py")} - {"__init__"}
    assert top == notebook_imports()


def test_the_checker_sees_function_level_and_package_imports():
    code = ("def f():\n    from utils.models import load_tokenizer\n    import utils.offline.hub\n"
            "from utils.offline import assets, cache\nfrom utils import sampling\n")
    assert utils_imports(code) == {"models", "offline.hub", "offline.assets", "offline.cache", "sampling"}


# --- the lesson modules stay small and bare ---------------------------------------------------------------

VALIDATORS = ("check_", "whole_number", "plain_number")


def code_lines(tree: ast.Module, source: str) -> set[int]:
    """Line numbers of code: not blank, not a comment, not a docstring."""
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings |= set(range(body[0].lineno, body[0].end_lineno + 1))
    return {i for i, line in enumerate(source.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#") and i not in docstrings}


def validation_lines(tree: ast.Module) -> set[int]:
    """Lines that check input: ``raise`` and ``assert``, an ``if`` whose whole body raises, and a call to a
    validator (``check_*``, ``whole_number``, ``plain_number``)."""
    found = set()
    for node in ast.walk(tree):
        call = getattr(node, "value", None) if isinstance(node, (ast.Expr, ast.Assign)) else None
        name = getattr(getattr(call, "func", None), "id", None) or getattr(getattr(call, "func", None), "attr", "")
        if isinstance(node, (ast.Raise, ast.Assert)) or isinstance(call, ast.Call) and name.startswith(VALIDATORS) \
                or isinstance(node, ast.If) and not node.orelse and all(isinstance(b, ast.Raise) for b in node.body):
            found |= set(range(node.lineno, node.end_lineno + 1))
    return found


def validation_share(paths) -> float:
    code = checks = 0
    for path in paths:
        source = path.read_text()
        tree = ast.parse(source)
        lines = code_lines(tree, source)
        code, checks = code + len(lines), checks + len(validation_lines(tree) & lines)
    return checks / code


def test_the_modules_students_open_are_mostly_mechanism():
    """At most 10% of the code lines in utils/'s top level check input; the checks live in support/validation.py,
    one call at each entry point."""
    top = sorted(p for p in UTILS.glob("*.py") if p.name != "__init__.py")
    assert validation_share(top) <= 0.10


def test_the_validation_share_sees_checks(tmp_path):
    checked = tmp_path / "checked.py"
    checked.write_text("def f(x):\n    if x < 0:\n        raise ValueError(x)\n    check_x(x)\n    return x * 2\n")
    assert validation_share([checked]) == 3 / 5


def test_no_function_over_60_lines_and_no_module_over_400():
    long = [f"{module_name(p)}: {len(p.read_text().splitlines())} lines" for p in modules()
            if len(p.read_text().splitlines()) > 400]
    long += [f"{module_name(p)}.{node.name}: {node.end_lineno - node.lineno + 1} lines" for p in modules()
             for node in ast.walk(ast.parse(p.read_text()))
             if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert long == []
