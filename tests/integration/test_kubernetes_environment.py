"""The proxy in a Kubernetes pod's environment: the service-link variables Kubernetes
injects for every Service in the namespace (SENTINEL_PROXY_METRICS_PORT=tcp://... for our
own sentinel-proxy-metrics Service) must not stop it, while a mistyped key still does."""
import subprocess

from harness import MASTER_NAME, proxy_bin


def test_metrics_service_link_variable_is_ignored(make_topology, make_proxy):
    topo = make_topology()
    proxy = make_proxy(topo, extra_env={"SENTINEL_PROXY_METRICS_PORT": "tcp://10.96.0.20:9121"})
    c = proxy.client()
    assert c.set("sp:k8s-env", "1") and c.get("sp:k8s-env") in ("1", b"1")
    assert proxy.alive()


def test_every_service_link_shape_and_a_typo(tmp_path):
    links = {
        "SENTINEL_PROXY_METRICS_SERVICE_HOST": "10.96.0.20",
        "SENTINEL_PROXY_METRICS_SERVICE_PORT": "9121",
        "SENTINEL_PROXY_METRICS_SERVICE_PORT_METRICS": "9121",
        "SENTINEL_PROXY_METRICS_PORT": "tcp://10.96.0.20:9121",
        "SENTINEL_PROXY_METRICS_PORT_9121_TCP": "tcp://10.96.0.20:9121",
        "SENTINEL_PROXY_METRICS_PORT_9121_TCP_PROTO": "tcp",
        "SENTINEL_PROXY_METRICS_PORT_9121_TCP_PORT": "9121",
        "SENTINEL_PROXY_METRICS_PORT_9121_TCP_ADDR": "10.96.0.20",
    }
    argv = [proxy_bin(), "--sentinel", "127.0.0.1:26379", "--master", MASTER_NAME,
            "--check-config"]
    ok = subprocess.run(argv, env=links, capture_output=True, text=True, timeout=10)
    assert ok.returncode == 0, ok.stderr
    typo = subprocess.run(argv, env={**links, "SENTINEL_PROXY_ADMIN_PORT": "9121"},
                          capture_output=True, text=True, timeout=10)
    assert typo.returncode == 2
    assert "unknown environment variable SENTINEL_PROXY_ADMIN_PORT" in typo.stderr
