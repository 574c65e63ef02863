using System.Collections.Immutable;
using System.Text.Json;
using CallGrains.Abstractions;
using CallGrains.Gateway.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace CallGrains.Gateway.Rest;

/// <summary>
/// PROTOCOL section 8, groups (admin): <c>POST /v1/groups</c>, <c>POST /v1/groups/{guid}/members</c>,
/// <c>GET /v1/groups/{guid}</c>, <c>DELETE /v1/groups/{guid}</c>. A group is <c>{"guid","name","members":[uid]}</c>.
/// </summary>
public static class GroupApi
{
    // More uids than any group may hold are refused before a grain is asked (the grain enforces the configured cap).
    private const int MaxUidsPerRequest = 10_000;

    public static IEndpointRouteBuilder MapGroupApi(this IEndpointRouteBuilder app)
    {
        var groups = app.MapGroup("/v1/groups").AddEndpointFilter(RestApi.RequireAdmin).ManagementOnly();
        groups.MapPost("", Create);
        groups.MapGet("/{guid}", Get);
        groups.MapPost("/{guid}/members", ChangeMembers);
        groups.MapDelete("/{guid}", Delete);
        return app;
    }

    private static async Task<IResult> Create(HttpRequest request, IGrainFactory grains)
    {
        var (body, problem) = await JsonBody.ReadObjectAsync(request, "the body must be a JSON object {\"guid\",\"name\",\"members\":[uid]}");
        if (body is null)
        {
            return BadRequest(problem!);
        }

        using (body)
        {
            var root = body.RootElement;
            var guid = root.TryGetProperty("guid", out var g) ? JsonText.StringOrNull(g) : null;
            var name = root.TryGetProperty("name", out var n) ? JsonText.StringOrNull(n) : null;
            if (!Identifiers.IsValidUid(guid))
            {
                return BadRequest("guid must be 1-100 characters of [A-Za-z0-9_-]");
            }

            if (!Identifiers.IsValidName(name))
            {
                return BadRequest(Identifiers.NameRule);
            }

            if (Uids(root, "members") is not { } members)
            {
                return BadRequest($"members must be an array of at most {MaxUidsPerRequest} uid strings");
            }

            return Answer(await grains.Ref<IGroupGrain>(guid!).Create(name!, members), StatusCodes.Status201Created);
        }
    }

    private static async Task<IResult> Get(string guid, IGrainFactory grains) =>
        Identifiers.IsValidUid(guid) && await grains.Ref<IGroupGrain>(guid).GetGroup() is { } group
            ? Group(group, StatusCodes.Status200OK)
            : NotFound(guid);

    private static async Task<IResult> ChangeMembers(string guid, HttpRequest request, IGrainFactory grains)
    {
        if (!Identifiers.IsValidUid(guid))
        {
            return NotFound(guid);
        }

        var (body, problem) = await JsonBody.ReadObjectAsync(request, "the body must be a JSON object {\"add\":[uid],\"remove\":[uid]}");
        if (body is null)
        {
            return BadRequest(problem!);
        }

        using (body)
        {
            if (Uids(body.RootElement, "add") is not { } add || Uids(body.RootElement, "remove") is not { } remove)
            {
                return BadRequest($"add and remove must be arrays of at most {MaxUidsPerRequest} uid strings");
            }

            var group = grains.Ref<IGroupGrain>(guid);
            var changed = await group.ChangeMembers(add, remove);
            if (changed.Outcome == GroupOutcome.Done && !remove.IsEmpty && await group.GetLiveCall() is { } live)
            {
                // Members removed while the group's call rings for them stop ringing (told by the API, so the group
                // grain never calls a session: sessions call groups).
                await grains.Ref<ICallSessionGrain>(live).StopRingingFor(remove);
            }

            return Answer(changed, StatusCodes.Status200OK);
        }
    }

    private static async Task<IResult> Delete(string guid, IGrainFactory grains) =>
        Identifiers.IsValidUid(guid) && await grains.Ref<IGroupGrain>(guid).Delete() ? Results.NoContent() : NotFound(guid);

    private static IResult Answer(GroupResult result, int success) => result.Outcome switch
    {
        GroupOutcome.Done => Group(result.Group!, success),
        GroupOutcome.AlreadyExists => RestResults.Error(StatusCodes.Status409Conflict, CallErrorCode.BadRequest, result.Message!),
        GroupOutcome.NotFound => RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.GuidNotFound, result.Message!),
        GroupOutcome.UnknownMember => RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.UidNotFound, result.Message!),
        _ => BadRequest(result.Message!),
    };

    private static JsonBytes Group(GroupInfo group, int status) => new(Wire.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("guid", group.GroupId);
        w.WriteString("name", group.Name);
        w.WriteStartArray("members");
        foreach (var uid in group.Members)
        {
            w.WriteStringValue(uid);
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }), status);

    private static IResult BadRequest(string message) => RestResults.Error(StatusCodes.Status400BadRequest, CallErrorCode.BadRequest, message);

    private static IResult NotFound(string guid) => RestResults.Error(StatusCodes.Status404NotFound, CallErrorCode.GuidNotFound, $"no group {guid}");

    /// <summary>The strings of an optional array property (empty when absent); null if it is not an array of strings or too long.</summary>
    private static ImmutableArray<string>? Uids(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var array))
        {
            return [];
        }

        if (array.ValueKind != JsonValueKind.Array || array.GetArrayLength() > MaxUidsPerRequest
            || array.EnumerateArray().Any(e => JsonText.StringOrNull(e) is null))
        {
            return null;
        }

        return [.. array.EnumerateArray().Select(e => e.GetString()!)];
    }
}
