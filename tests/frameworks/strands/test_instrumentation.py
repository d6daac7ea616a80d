def test_framework_installed():
    import importlib

    assert importlib.import_module("strands")
