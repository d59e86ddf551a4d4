"""utils/ is layered one way: no module imports one in its own layer or above, not even inside a function."""

import ast
from pathlib import Path

import utils

UTILS = Path(utils.__file__).parent


def utils_imports(path: Path) -> set[str]:
    """Every ``utils`` module a file imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("utils.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "utils":
            parts = node.module.split(".")
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
    return found


def test_every_module_has_a_layer():
    modules = {p.stem for p in UTILS.glob("*.py")} - {"__init__"}
    assert modules == set(utils.LAYERS)


def test_imports_only_go_down():
    upward = [f"{path.stem} (layer {utils.LAYERS[path.stem]}) imports {name} (layer {utils.LAYERS[name]})"
              for path in sorted(UTILS.glob("*.py")) if path.stem != "__init__"
              for name in sorted(utils_imports(path)) if utils.LAYERS[name] >= utils.LAYERS[path.stem]]
    assert upward == []


def test_the_checker_sees_function_level_imports(tmp_path):
    code = tmp_path / "m.py"
    code.write_text("def f():\n    from utils.models import load_tokenizer\n    import utils.hub\n")
    assert utils_imports(code) == {"models", "hub"}
