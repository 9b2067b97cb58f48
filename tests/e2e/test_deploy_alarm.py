"""An alarm evaluated by the server from the proxy's metrics stops a blue/green deployment whose
new release answers 5% 5xx after the shift: traffic goes back to the original fleet within
seconds, the deployment fails with ALARM_ACTIVE, and a rollback deployment (creator "rollback")
redeploys the last good revision and succeeds. Real server, proxy, agents and sample app."""
import json

from conftest import wait_for
from deployutil import BlueGreen, Load, wait_serving

WINDOW_S = 3


def test_five_percent_5xx_after_the_shift_rolls_back(procs, cutover, tmp_path):
    bg = BlueGreen(procs, cutover, tmp_path,
                   blueGreenDeploymentConfiguration={
                       "deploymentReadyOption": {"actionOnTimeout": "CONTINUE_DEPLOYMENT"},
                       "terminateBlueInstancesOnDeploymentSuccess": {
                           "action": "TERMINATE", "terminationWaitTimeInMinutes": "20s"}},
                   alarmConfiguration={"enabled": True, "alarms": [
                       {"name": "errors", "metric": "target_5xx_ratio",
                        "targetGroup": "replacement", "threshold": 0.01,
                        "window": f"{WINDOW_S}s"}]})
    try:
        _, info1 = bg.deploy_and_wait("v1", timeout=90)
        wait_serving(bg.port, "v1")
        load = Load(bg.port, threads=4, max_requests=300000, max_seconds=120)
        dep = bg.deploy("v2", ERROR_RATIO="0.05")
        info = bg.server.wait_deployment(dep, timeout=60)
        assert info["status"] == "Failed", json.dumps(info)
        assert info["errorInformation"]["code"] == "ALARM_ACTIVE", json.dumps(info)
        rb = info.get("rollbackInfo", {}).get("rollbackDeploymentId")
        assert rb, json.dumps(info)
        rbinfo = bg.server.wait_deployment(rb, timeout=60)
        assert rbinfo["creator"] == "rollback", rbinfo
        assert rbinfo["status"] == "Succeeded", rbinfo
        assert rbinfo["rollbackInfo"]["rollbackTriggeringDeploymentId"] == dep, rbinfo
        assert rbinfo["revision"]["revisionId"] == info1["revision"]["revisionId"], rbinfo
        wait_serving(bg.port, "v1", timeout=10)
        wait_for(lambda: len(load.snapshot()) > 0, 5)
        load.stop()
        first_v2 = load.first("v2")
        assert first_v2 is not None, load.summary()
        errors = [t for t, st, v in load.records if st == 500]
        assert errors and all(v == "v2" for t, st, v in load.records if st == 500)
        last_v2 = load.last("v2")
        back_after = last_v2 - errors[0]
        print(f"traffic back on the original fleet {back_after:.2f} s after the first 5xx "
              f"(alarm window {WINDOW_S} s)")
        assert back_after <= WINDOW_S + 5, f"v2 kept traffic for {back_after:.2f} s"
        assert not [r for r in load.records if r[1] < 0], load.summary()
    finally:
        bg.close()
