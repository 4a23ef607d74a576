"""One AWS provider per (environment, region), pinned to the environment's account.

No resource uses the ambient default provider: every component receives the provider
explicitly. The provider assumes the environment's deploy role and refuses any other
account (``allowed_account_ids``), so prod settings can never land in the dev account
(FC-000-3).
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from model.environment import Environment


def provider_name(env: Environment, region: str) -> str:
    return f"aws-{env.name}-{region}"


def make_provider(env: Environment, region: str) -> aws.Provider:
    return aws.Provider(
        provider_name(env, region),
        region=region,
        allowed_account_ids=[env.account_id],
        assume_roles=[
            aws.ProviderAssumeRoleArgs(role_arn=env.deploy_role_arn, session_name=f"infra-{env.name}")
        ],
        default_tags=aws.ProviderDefaultTagsArgs(tags=env.base_tags()),
    )


def child_opts(parent: pulumi.Resource, provider: aws.Provider, **kwargs: object) -> pulumi.ResourceOptions:
    """Options for a component's child: parented to the component, through the region's provider."""
    return pulumi.ResourceOptions(parent=parent, provider=provider, **kwargs)  # type: ignore[arg-type]


def former_urn(parent_types: Sequence[str], type_: str, name: str) -> str:
    """The URN, in the stack being run, of a resource ``name`` of ``type_`` as it was when it was a
    child of components of ``parent_types`` (outermost first): an alias for a resource now declared
    at the stack's root, so a state written by an earlier version keeps it as it is."""
    chain = "$".join([*parent_types, type_])
    return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{chain}::{name}"
