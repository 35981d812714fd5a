"""Opening the database configures every mapper at once (see store.database): lazily, a
thread importing a model module while another queried broke an instance for good."""

import subprocess
import sys
import textwrap


def test_open_database_imports_and_configures_every_mapper(tmp_path):
    # a fresh interpreter: the test session has long imported and configured everything
    code = textwrap.dedent(f"""
        import sys
        from mailproc.store.database import open_database
        open_database("sqlite:///{tmp_path / 'db.sqlite'}", migrate=False)
        from mailproc.store.base import Base
        assert "mailproc.questions.models" in sys.modules, "question models not imported"
        mappers = list(Base.registry.mappers)
        assert len(mappers) > 10, len(mappers)
        pending = [m.class_.__name__ for m in mappers if not m.configured]
        assert not pending, pending
        print("ok", len(mappers))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")
