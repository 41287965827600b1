"""A plain, non-editable install finds its templates (they ship inside the wheel)."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("derive-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "derive/templates/module.py.j2" in names
    assert not any(name.startswith("templates/") for name in names)


def test_a_fresh_virtual_environment_installs_and_generates_code(tmp_path):
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(ROOT)], check=True,
                   capture_output=True, cwd=tmp_path)
    program = ("import derive as d, pathlib; "
               "print(pathlib.Path(d.__file__).parent); "
               "print(d.to_numpy(d.derive(d.models.mlp())))")
    run = subprocess.run([str(python), "-c", program], check=True, capture_output=True,
                         text=True, cwd=tmp_path)
    location, source = run.stdout.split("\n", 1)
    assert Path(location).is_relative_to(env)  # the installed copy, not this checkout
    assert "delta_h = W2.T @ delta_z2" in source
    equations = subprocess.run([str(env / "bin" / "derive"), "equations", "mlp"], check=True,
                               capture_output=True, text=True, cwd=tmp_path).stdout
    assert "δh = W2ᵀ δz2" in equations
