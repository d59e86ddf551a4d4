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
