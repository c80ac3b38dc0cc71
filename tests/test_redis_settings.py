"""BROKER_REDIS_* settings: each topology's URL form, TLS files, ACL users, and no password in errors."""

from __future__ import annotations

import base64

import pytest

from service.domain.redis_url import RedisTarget, parse_target, topology_of
from service.settings import ConfigurationError, load_settings
from tests.test_settings import env  # noqa: F401 - the fixture with a complete environment

SECRET = "s3cr3t-redis-password"
KEY = base64.b64encode(b"k" * 32).decode()


@pytest.mark.parametrize(
    ("url", "topology"),
    [
        ("redis://127.0.0.1:6379/0", "single"),
        ("rediss://user:pw@redis.internal:6380/2", "single"),
        ("unix:///run/redis.sock", "single"),
        ("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster", "sentinel"),
        ("REDISS+SENTINEL://10.0.0.1:26379/mymaster/3", "sentinel"),
        ("redis+cluster://10.0.0.1:7000", "cluster"),
        ("rediss+cluster://u:p@10.0.0.1:7000,10.0.0.2:7000", "cluster"),
    ],
)
def test_topology_of_names_each_url_form(url: str, topology: str) -> None:
    assert topology_of(url) == topology


def test_parse_target_reads_hosts_master_db_and_credentials() -> None:
    target = parse_target(f"rediss+sentinel://broker:{SECRET}@a:26379,[::1]:26380/main/4")

    assert target == RedisTarget(
        "sentinel", True, (("a", 26379), ("::1", 26380)), "main", 4, "broker", SECRET
    )
    assert SECRET not in repr(target)
    assert parse_target("redis+cluster://%40dmin@h:7000").username == "@dmin"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://h:1", "must start with"),
        ("redis+sentinel://h:26379", "master-name"),
        ("redis+sentinel://h:26379/m/x", "database must be a number"),
        ("redis+sentinel:///m", "no host"),
        ("redis+cluster://h:7000/1", "no path"),
        ("redis+cluster://h", "host:port"),
        ("redis+cluster://h:99999", "host:port"),
    ],
)
def test_parse_target_refuses_malformed_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_target(url)


@pytest.mark.parametrize(
    "url",
    [
        f"redis+sentinel://u:{SECRET}@h:26379",
        f"redis+cluster://u:{SECRET}@h:7000/2",
        f"memcached://u:{SECRET}@h:1",
    ],
)
def test_settings_refuse_bad_redis_url_without_repeating_it(env: pytest.MonkeyPatch, url: str) -> None:  # noqa: F811
    env.setenv("BROKER_REDIS_URL", url)
    env.setenv("BROKER_CACHE_KEY", KEY)
    with pytest.raises(ConfigurationError, match="BROKER_REDIS_URL") as error:
        load_settings().check()
    assert SECRET not in str(error.value)


def test_settings_accept_every_topology_with_tls_files_and_acl_user(env: pytest.MonkeyPatch) -> None:  # noqa: F811
    env.setenv("BROKER_CACHE_KEY", KEY)
    env.setenv("BROKER_REDIS_USERNAME", "broker")
    env.setenv("BROKER_REDIS_PASSWORD", SECRET)
    env.setenv("BROKER_REDIS_TLS_CA_FILE", "/etc/redis/ca.pem")
    env.setenv("BROKER_REDIS_TLS_CERT_FILE", "/etc/redis/client.pem")
    env.setenv("BROKER_REDIS_TLS_KEY_FILE", "/etc/redis/client.key")
    for url in ("rediss://h:6380/0", "rediss+sentinel://h:26379/m", "rediss+cluster://h:7000"):
        env.setenv("BROKER_REDIS_URL", url)
        settings = load_settings()
        settings.check()
        options = settings.redis_options()
        assert (options.username, options.password, options.ca_file) == (
            "broker",
            SECRET,
            "/etc/redis/ca.pem",
        )
        assert SECRET not in repr(settings) + repr(options)


def test_settings_refuse_tls_files_without_tls_or_half_a_client_pair(env: pytest.MonkeyPatch) -> None:  # noqa: F811
    env.setenv("BROKER_CACHE_KEY", KEY)
    env.setenv("BROKER_REDIS_URL", "redis+cluster://h:7000")
    env.setenv("BROKER_REDIS_TLS_CERT_FILE", "/etc/redis/client.pem")
    with pytest.raises(ConfigurationError) as error:
        load_settings().check()
    assert "BROKER_REDIS_TLS_CERT_FILE is set but BROKER_REDIS_URL does not use TLS" in str(error.value)
    assert "go together" in str(error.value)
