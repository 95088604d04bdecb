"""The robot description, checked the MuJoCo Menagerie way: it parses, compiles, and steps without warnings."""

import math
import random
import xml.etree.ElementTree as ET

import pytest

mujoco = pytest.importorskip("mujoco")

from shadowpeft_ros.sim import gait  # noqa: E402
from shadowpeft_ros.sim.model import build_model, build_spec, default_urdf  # noqa: E402


def test_urdf_is_plain_xml_with_twelve_revolute_joints_and_a_mujoco_block():
    root = ET.parse(default_urdf()).getroot()
    assert root.tag == "robot" and root.get("name") == "go2_like"
    joints = [j for j in root.findall("joint")]
    assert sorted(j.get("name") for j in joints) == sorted(gait.JOINT_NAMES)
    assert all(j.get("type") == "revolute" for j in joints)
    assert root.find("mujoco/compiler") is not None
    masses = [float(m.get("value")) for m in root.iter("mass")]
    assert sum(masses) == pytest.approx(15.0, abs=0.5)
    # Every link the joints name exists, and the tree has one root: base.
    links = {link.get("name") for link in root.findall("link")}
    children = {j.find("child").get("link") for j in joints}
    assert {j.find("parent").get("link") for j in joints} <= links and children <= links
    assert links - children == {"base"}


def test_geometry_constants_match_the_urdf():
    root = ET.parse(default_urdf()).getroot()
    origin = {j.get("name"): [float(v) for v in j.find("origin").get("xyz").split()] for j in root.findall("joint")}
    assert origin["FL_hip_joint"][:2] == pytest.approx([gait.HIP_X, gait.HIP_Y])
    assert origin["RR_thigh_joint"][1] == pytest.approx(-gait.THIGH_Y)
    assert origin["FR_calf_joint"][2] == pytest.approx(-gait.THIGH_LENGTH)


def test_scene_compiles_with_actuators_sites_floor():
    model = build_model()
    assert model.nu == 12 and model.njnt == 13
    assert model.opt.timestep == pytest.approx(0.002)
    assert all(model.site(f"{leg}_foot").id >= 0 for leg in gait.LEGS)
    assert model.geom("floor").id >= 0
    assert sum(model.body_mass) == pytest.approx(15.0, abs=0.5)


def test_scene_steps_without_any_mujoco_warning():
    model = build_model()
    data = mujoco.MjData(model)
    data.qpos[2] = 0.35
    data.qpos[3] = 1.0
    for i in range(1000):
        data.ctrl[:] = [0.0, 0.8, -1.5] * 4
        mujoco.mj_step(model, data)
    assert all(w.number == 0 for w in data.warning), [(i, w.number) for i, w in enumerate(data.warning) if w.number]
    assert all(math.isfinite(v) for v in data.qpos)


def test_forward_kinematics_agrees_with_mujoco_and_ik_inverts_it():
    model = build_model()
    data = mujoco.MjData(model)
    data.qpos[3] = 1.0
    rng = random.Random(0)
    for _ in range(5):
        q = (rng.uniform(-0.3, 0.3), rng.uniform(0.3, 1.2), rng.uniform(-2.4, -1.0))
        for leg in gait.LEGS:
            for name, value in zip(gait.JOINTS_PER_LEG, q):
                data.qpos[model.joint(f"{leg}_{name}_joint").qposadr[0]] = value
        mujoco.mj_kinematics(model, data)
        for leg in gait.LEGS:
            rel = data.site_xpos[model.site(f"{leg}_foot").id] - data.xpos[model.body(f"{leg}_hip").id]
            assert gait.leg_fk(leg, q) == pytest.approx(list(rel), abs=1e-6)
            assert gait.leg_ik(leg, gait.leg_fk(leg, q)) == pytest.approx(q, abs=1e-6)


def test_missing_urdf_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="robot description not found"):
        build_spec(tmp_path / "nope.urdf")
