"""Tests of rlgraph_xflow.core.registry: Registry, SpecError and the global from_spec.

Registry behaviour is tested on fresh Registry instances holding small classes
defined here, so the global COMPONENTS registry (which other tests enumerate)
only ever holds the real components; the global `from_spec` is tested with
those real components.

Tests whose assertion message starts with "BUG:" expose a defect found while
writing them; they are meant to fail until the module is fixed.
"""
from __future__ import annotations

import pytest

import rlgraph_xflow.components  # noqa: F401  (registers the real components)
from rlgraph_xflow.core.registry import COMPONENTS, Registry, SpecError, from_spec, register


class Motor:
    """Base class for the dummy registry entries."""


class Engine(Motor):
    def __init__(self, cylinders: int, fuel: str = "petrol", *, turbo: bool = False):
        self.cylinders, self.fuel, self.turbo = cylinders, fuel, turbo


class Wheel:
    def __init__(self, radius: float = 1.0, key_path: str = ""):
        self.radius, self.key_path = radius, key_path


class Trailer:
    def __init__(self, *extra_wheels, length: float = 2.0):
        self.extra_wheels, self.length = extra_wheels, length


class Anything:
    def __init__(self, size: int, **options):
        self.size, self.options = size, options


class Plain:
    """No __init__ of its own."""


class Car:
    """Builds its parts from specs with its own key path, like real components."""

    def __init__(self, engine, wheel="wheel", key_path: str = ""):
        prefix = f"{key_path}." if key_path else ""
        self.engine = VEHICLES.from_spec(engine, f"{prefix}engine", base=Motor)
        self.wheel = VEHICLES.from_spec(wheel, f"{prefix}wheel")


VEHICLES = Registry("vehicle")
for _name, _cls in [("engine", Engine), ("wheel", Wheel), ("trailer", Trailer), ("anything", Anything),
                    ("plain", Plain), ("car", Car)]:
    VEHICLES.register(_name)(_cls)


def raised_spec_error(registry: Registry, spec, key_path: str = "", **keywords) -> SpecError:
    with pytest.raises(SpecError) as raised:
        registry.from_spec(spec, key_path, **keywords)
    return raised.value


# Registration ---------------------------------------------------------------------


def test_register_returns_the_class_and_records_its_name():
    registry = Registry("gadget")

    @registry.register("gizmo")
    class Gizmo:
        pass

    assert isinstance(Gizmo, type) and Gizmo.registered_name == "gizmo"
    assert "gizmo" in registry and "gadget" not in registry
    assert registry.lookup("gizmo") is Gizmo
    assert registry.names() == ["gizmo"]


def test_registering_the_same_class_twice_is_harmless():
    registry = Registry("gadget")

    class Lamp:
        pass

    registry.register("lamp")(Lamp)
    registry.register("lamp")(Lamp)
    assert registry.names() == ["lamp"] and registry.lookup("lamp") is Lamp


def test_registering_two_classes_under_one_name_is_an_error():
    registry = Registry("gadget")

    class Lamp:
        pass

    class Torch:
        pass

    registry.register("light")(Lamp)
    with pytest.raises(ValueError, match=r"gadget type 'light' is registered twice: .*Lamp and .*Torch"):
        registry.register("light")(Torch)
    assert registry.lookup("light") is Lamp


def test_registering_a_class_elsewhere_keeps_its_name_in_this_registry():
    machines, gadgets = Registry("machine"), Registry("gadget")

    class Pump:
        def __init__(self, rate: float):
            self.rate = rate

    machines.register("pump")(Pump)
    gadgets.register("fluid_mover")(Pump)
    error = raised_spec_error(machines, {"type": "pump", "rat": 1.0}, "plant.pump")
    assert error.key_path == "plant.pump.rat"
    assert "machine type 'pump' has no argument 'rat'" in str(error), (
        "BUG: register() stores the name on the class (cls.registered_name), so registering the same class in a "
        "second registry (or under a second name) renames it everywhere: the 'machine' registry now reports the "
        f"spec type 'pump' under the other registry's name. Got: {error}"
    )


def test_names_are_sorted():
    assert VEHICLES.names() == ["anything", "car", "engine", "plain", "trailer", "wheel"]


# Successful specs -----------------------------------------------------------------


def test_mapping_spec_builds_with_arguments_and_defaults():
    engine = VEHICLES.from_spec({"type": "engine", "cylinders": 6, "turbo": True})
    assert isinstance(engine, Engine) and (engine.cylinders, engine.fuel, engine.turbo) == (6, "petrol", True)


def test_spec_overrides_defaults():
    engine = VEHICLES.from_spec({"type": "engine", "cylinders": 4, "fuel": "diesel"}, fuel="hydrogen", turbo=True)
    assert (engine.fuel, engine.turbo) == ("diesel", True)
    engine = VEHICLES.from_spec({"type": "engine"}, cylinders=8)
    assert engine.cylinders == 8


def test_string_spec_is_a_type_name():
    wheel = VEHICLES.from_spec("wheel", "car.wheel")
    assert isinstance(wheel, Wheel) and wheel.radius == 1.0


def test_spec_is_not_modified():
    spec = {"type": "engine", "cylinders": 2}
    VEHICLES.from_spec(spec, "x", fuel="gas")
    assert spec == {"type": "engine", "cylinders": 2}


def test_key_path_goes_to_constructors_that_accept_it():
    assert VEHICLES.from_spec({"type": "wheel"}, "model.front").key_path == "model.front"
    assert VEHICLES.from_spec({"type": "wheel"}).key_path == ""
    # Engine takes no key_path; passing one would be a TypeError.
    assert VEHICLES.from_spec({"type": "engine", "cylinders": 1}, "model.engine").cylinders == 1


def test_instance_passes_through_only_with_a_matching_base():
    engine = Engine(3)
    assert VEHICLES.from_spec(engine, "car.engine", base=Motor) is engine
    assert VEHICLES.from_spec(engine, base=Engine) is engine
    error = raised_spec_error(VEHICLES, engine, "car.engine")
    assert error.key_path == "car.engine" and "got Engine" in str(error)
    error = raised_spec_error(VEHICLES, Wheel(), "car.engine", base=Motor)
    assert error.key_path == "car.engine" and "got Wheel" in str(error)


def test_variadic_positional_arguments_are_not_spec_arguments():
    trailer = VEHICLES.from_spec({"type": "trailer", "length": 3.5})
    assert (trailer.extra_wheels, trailer.length) == ((), 3.5)
    error = raised_spec_error(VEHICLES, {"type": "trailer", "extra_wheels": [1]}, "t")
    assert error.key_path == "t.extra_wheels" and "Accepted arguments: length." in str(error)


def test_keyword_catch_all_accepts_any_argument():
    built = VEHICLES.from_spec({"type": "anything", "size": 1, "colour": "red"})
    assert (built.size, built.options) == (1, {"colour": "red"})


def test_nested_specs_carry_the_key_path_down():
    car = VEHICLES.from_spec({"type": "car", "engine": {"type": "engine", "cylinders": 4}, "wheel": {"type": "wheel"}},
                             "garage.car")
    assert car.engine.cylinders == 4 and car.wheel.key_path == "garage.car.wheel"
    error = raised_spec_error(VEHICLES, {"type": "car", "engine": {"type": "engine", "cylinderz": 4}}, "garage.car")
    assert error.key_path == "garage.car.engine.cylinderz"
    error = raised_spec_error(VEHICLES, {"type": "car", "engine": {"type": "engin"}}, "garage.car")
    assert error.key_path == "garage.car.engine.type" and "did you mean 'engine'" in str(error)


# Bad specs ------------------------------------------------------------------------


def test_unknown_type_suggests_a_close_name_and_lists_known_ones():
    error = raised_spec_error(VEHICLES, {"type": "enigne"}, "model.motor")
    assert error.key_path == "model.motor.type"
    message = str(error)
    assert message.startswith("model.motor.type: unknown vehicle type 'enigne'")
    assert "(did you mean 'engine'?)" in message
    assert "Known vehicle types: anything, car, engine, plain, trailer, wheel." in message
    assert error.message in message


def test_unknown_type_far_from_every_name_has_no_suggestion():
    error = raised_spec_error(VEHICLES, {"type": "spaceship"})
    assert error.key_path == "type" and "did you mean" not in str(error) and "Known vehicle types" in str(error)


def test_unknown_string_spec_is_reported_like_a_mapping():
    error = raised_spec_error(VEHICLES, "wheeel", "car.wheel")
    assert error.key_path == "car.wheel.type" and "did you mean 'wheel'" in str(error)


def test_non_string_type_is_an_unknown_type():
    error = raised_spec_error(VEHICLES, {"type": ["engine"]}, "m")
    assert error.key_path == "m.type" and "unknown vehicle type ['engine']" in str(error)


def test_empty_registry_says_nothing_is_registered():
    error = raised_spec_error(Registry("optimizer"), {"type": "adam"}, "train.optimizer")
    assert error.key_path == "train.optimizer.type"
    assert "unknown optimizer type 'adam': no optimizer types exist in this version yet." in str(error)
    with pytest.raises(SpecError, match="no optimizer types exist"):
        Registry("optimizer").lookup("adam")


def test_unknown_argument_lists_accepted_ones_and_suggests():
    error = raised_spec_error(VEHICLES, {"type": "engine", "cylinder": 4}, "model.engine")
    assert error.key_path == "model.engine.cylinder"
    message = str(error)
    assert "vehicle type 'engine' has no argument 'cylinder' (did you mean 'cylinders'?)" in message
    assert "Accepted arguments: cylinders, fuel, turbo." in message


def test_unknown_argument_without_key_path_names_the_argument():
    error = raised_spec_error(VEHICLES, {"type": "wheel", "diameter": 2.0})
    assert error.key_path == "diameter" and str(error).startswith("diameter: ")
    assert "Accepted arguments: radius." in str(error) and "key_path" not in error.message


def test_unknown_default_argument_is_reported_too():
    error = raised_spec_error(VEHICLES, {"type": "wheel"}, "w", colour="red")
    assert error.key_path == "w.colour"


def test_missing_required_argument_is_named():
    error = raised_spec_error(VEHICLES, {"type": "engine", "fuel": "diesel"}, "model.engine")
    assert error.key_path == "model.engine"
    assert "vehicle type 'engine' needs argument(s) cylinders" in str(error)


def test_missing_required_argument_with_a_keyword_catch_all_is_a_spec_error():
    try:
        VEHICLES.from_spec({"type": "anything", "colour": "red"}, "model.anything")
    except SpecError as error:
        assert error.key_path == "model.anything" and "size" in str(error)
    except TypeError as error:
        pytest.fail(
            "BUG: Registry._check_arguments returns early for classes taking **kwargs, so a missing required "
            f"argument ('size') escapes as a bare TypeError without key path: {error}"
        )
    else:
        pytest.fail("a spec without the required argument 'size' was accepted")


def test_arguments_to_a_class_without_init_are_a_spec_error():
    assert isinstance(VEHICLES.from_spec("plain"), Plain)
    try:
        VEHICLES.from_spec({"type": "plain", "size": 3}, "model.plain")
    except SpecError as error:
        assert error.key_path == "model.plain.size"
    except TypeError as error:
        pytest.fail(
            "BUG: for a registered class without its own __init__, inspect sees object's (*args, **kwargs) and the "
            f"argument check is skipped, so an unknown argument escapes as a bare TypeError without key path: {error}"
        )
    else:
        pytest.fail("an argument to a class that takes none was accepted")


@pytest.mark.parametrize("spec", [3, None, ["engine"], 2.5])
def test_non_mapping_spec_is_rejected_with_its_type(spec):
    error = raised_spec_error(VEHICLES, spec, "model.part")
    assert error.key_path == "model.part"
    assert f"expected a vehicle spec (a mapping with 'type', or a type name), got {type(spec).__name__}" in str(error)


def test_spec_without_type_lists_its_keys_and_the_known_types():
    error = raised_spec_error(VEHICLES, {"cylinders": 4, "fuel": "gas"}, "model.engine")
    assert error.key_path == "model.engine"
    assert "needs a 'type' key; got keys ['cylinders', 'fuel']" in str(error)
    assert "Known vehicle types: anything, car" in str(error)


def test_spec_error_fields_and_message():
    error = SpecError("a.b", "went wrong")
    assert (error.key_path, error.message, str(error)) == ("a.b", "went wrong", "a.b: went wrong")
    assert str(SpecError("", "went wrong")) == "went wrong"
    assert isinstance(error, ValueError)


# The global registry with the real components ---------------------------------------


def test_global_registry_holds_the_real_components_and_register_feeds_it():
    for name in ("dense", "mlp", "categorical_head", "policy"):
        assert name in COMPONENTS
    assert register.__self__ is COMPONENTS


def test_global_from_spec_builds_a_dense_layer():
    from rlgraph_xflow.components.layers.dense import Dense

    dense = from_spec({"type": "dense", "units": 3}, "model.layer")
    assert isinstance(dense, Dense) and dense.units == 3 and dense.key_path == "model.layer"
    assert dense.scope == "dense"
    assert from_spec(dense) is dense
    assert from_spec({"type": "dense", "units": 3}, scope="custom").scope == "custom"


def test_global_from_spec_suggests_dense_for_a_typo():
    with pytest.raises(SpecError) as raised:
        from_spec({"type": "dnese"}, "model")
    assert raised.value.key_path == "model.type" and "did you mean 'dense'" in str(raised.value)
    assert "Known component types:" in str(raised.value) and "policy" in str(raised.value)


def test_global_from_spec_reports_a_nested_typo_at_its_key_path():
    spec = {"type": "policy", "network": {"type": "mlp", "layerz": [3]}, "head": {"type": "categorical_head", "num_actions": 2}}
    with pytest.raises(SpecError) as raised:
        from_spec(spec, "model")
    assert raised.value.key_path == "model.network.layerz"
    assert "did you mean 'layers'" in str(raised.value)


def test_global_from_spec_builds_a_policy_from_nested_specs():
    from rlgraph_xflow.components.heads.categorical_head import CategoricalHead
    from rlgraph_xflow.components.layers.mlp import MLP

    policy = from_spec({"type": "policy", "network": {"type": "mlp", "layers": [3]},
                        "head": {"type": "categorical_head", "num_actions": 2}}, "model")
    assert isinstance(policy.network, MLP) and isinstance(policy.head, CategoricalHead)
    assert policy.network.key_path == "model.network" and policy.head.scope == "head"


def test_global_from_spec_rejects_non_components():
    with pytest.raises(SpecError, match="got Engine"):
        from_spec(Engine(1), "model")
    with pytest.raises(SpecError) as raised:
        from_spec({"type": "dense"}, "model.layer")
    assert raised.value.key_path == "model.layer" and "needs argument(s) units" in str(raised.value)
